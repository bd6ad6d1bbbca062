"""REST API v1: one path per operation (HackSoft style, see STYLE.md)."""

from __future__ import annotations

from django.urls import path

from accounts import api as accounts_api
from alerts import api as alerts_api
from billing import api as billing_api
from billing import driver_stations as driver_stations_api
from sessions_app import api as sessions_api
from stations import api as stations_api

app_name = "api"

driver_urlpatterns = [
    path("driver/stations/", driver_stations_api.DriverStationNearbyApi.as_view(), name="driver_stations"),
    path("driver/stations/<int:pk>/", driver_stations_api.DriverStationDetailApi.as_view(), name="driver_station"),
    path("driver/tokens/", sessions_api.DriverTokenListApi.as_view(), name="driver_tokens"),
    path("driver/starts/", sessions_api.DriverStartApi.as_view(), name="driver_start"),
    path("driver/starts/<int:pk>/", sessions_api.DriverStartDetailApi.as_view(), name="driver_start_detail"),
    path("driver/sessions/", sessions_api.DriverSessionListApi.as_view(), name="driver_sessions"),
    path("driver/sessions/active/", sessions_api.DriverActiveSessionListApi.as_view(), name="driver_sessions_active"),
    path("driver/sessions/<int:pk>/", sessions_api.DriverSessionDetailApi.as_view(), name="driver_session"),
    path("driver/sessions/<int:pk>/stop/", sessions_api.DriverSessionStopApi.as_view(), name="driver_session_stop"),
    path("driver/receipts/", billing_api.DriverReceiptListApi.as_view(), name="driver_receipts"),
    path("driver/receipts/<int:pk>/", billing_api.DriverReceiptDetailApi.as_view(), name="driver_receipt"),
    path("driver/receipts/<int:pk>/pdf/", billing_api.DriverReceiptPdfApi.as_view(), name="driver_receipt_pdf"),
]  # fmt: skip

operator_urlpatterns = [
    path("networks/", stations_api.NetworkListApi.as_view(), name="networks"),
    path("networks/create/", stations_api.NetworkCreateApi.as_view(), name="network_create"),
    path("networks/<int:pk>/", stations_api.NetworkDetailApi.as_view(), name="network"),
    path("networks/<int:pk>/update/", stations_api.NetworkUpdateApi.as_view(), name="network_update"),
    path("stations/", stations_api.StationListApi.as_view(), name="stations"),
    path("stations/create/", stations_api.StationCreateApi.as_view(), name="station_create"),
    path("stations/<int:pk>/", stations_api.StationDetailApi.as_view(), name="station"),
    path("stations/<int:pk>/update/", stations_api.StationUpdateApi.as_view(), name="station_update"),
    path("charge-points/", stations_api.ChargePointListApi.as_view(), name="charge_points"),
    path("charge-points/create/", stations_api.ChargePointCreateApi.as_view(), name="charge_point_create"),
    path("charge-points/<int:pk>/", stations_api.ChargePointDetailApi.as_view(), name="charge_point"),
    path("charge-points/<int:pk>/update/", stations_api.ChargePointUpdateApi.as_view(), name="charge_point_update"),
    path("charge-points/<int:pk>/commands/", stations_api.CommandCreateApi.as_view(), name="command_create"),
    path("connectors/", stations_api.ConnectorListApi.as_view(), name="connectors"),
    path("connectors/create/", stations_api.ConnectorCreateApi.as_view(), name="connector_create"),
    path("connectors/<int:pk>/", stations_api.ConnectorDetailApi.as_view(), name="connector"),
    path("connectors/<int:pk>/update/", stations_api.ConnectorUpdateApi.as_view(), name="connector_update"),
    path("connectors/<int:pk>/delete/", stations_api.ConnectorDeleteApi.as_view(), name="connector_delete"),
    path("commands/", stations_api.CommandListApi.as_view(), name="commands"),
    path("commands/<int:pk>/", stations_api.CommandDetailApi.as_view(), name="command"),
    path("sessions/", sessions_api.SessionListApi.as_view(), name="sessions"),
    path("sessions/<int:pk>/", sessions_api.SessionDetailApi.as_view(), name="session"),
    path("sessions/<int:pk>/meter-values/", sessions_api.SessionMeterValuesApi.as_view(), name="session_meter_values"),
    path("alerts/", alerts_api.AlertListApi.as_view(), name="alerts"),
    path("alerts/<int:pk>/", alerts_api.AlertDetailApi.as_view(), name="alert"),
    path("alerts/<int:pk>/acknowledge/", alerts_api.AlertAcknowledgeApi.as_view(), name="alert_acknowledge"),
    path("tariffs/", billing_api.TariffListApi.as_view(), name="tariffs"),
    path("tariffs/create/", billing_api.TariffCreateApi.as_view(), name="tariff_create"),
    path("tariffs/<int:pk>/", billing_api.TariffDetailApi.as_view(), name="tariff"),
    path("tariffs/<int:pk>/update/", billing_api.TariffUpdateApi.as_view(), name="tariff_update"),
    path("cdrs/", billing_api.CdrListApi.as_view(), name="cdrs"),
    path("cdrs/export.csv", billing_api.CdrExportApi.as_view(), name="cdrs_export"),
    path("cdrs/<int:pk>/", billing_api.CdrDetailApi.as_view(), name="cdr"),
]  # fmt: skip

urlpatterns = [
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    *driver_urlpatterns,
    *operator_urlpatterns,
]
