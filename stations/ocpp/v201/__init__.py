"""OCPP 2.0.1 (OCPP-J 2.0.1): the version adapter, its handlers and commands."""
