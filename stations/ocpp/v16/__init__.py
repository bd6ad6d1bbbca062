"""OCPP 1.6J: the version adapter (``adapter.Ocpp16Adapter``), its handlers and commands."""
