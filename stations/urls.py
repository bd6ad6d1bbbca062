from django.urls import path

from stations import views
from stations.live import map as station_map
from stations.security import views as security_views

app_name = "stations"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/", views.live_board, name="live_board"),
    path("map/", station_map.station_map, name="station_map"),
    path("map/data/", station_map.station_map_data, name="station_map_data"),
    path("search/", views.search, name="search"),
    path("networks/", views.network_list, name="network_list"),
    path("networks/new/", views.network_create, name="network_create"),
    path("networks/<int:pk>/", views.network_detail, name="network_detail"),
    path("networks/<int:pk>/edit/", views.network_edit, name="network_edit"),
    path("stations/", views.station_list, name="station_list"),
    path("stations/new/", views.station_create, name="station_create"),
    path("stations/<int:pk>/", views.station_detail, name="station_detail"),
    path("stations/<int:pk>/edit/", views.station_edit, name="station_edit"),
    path("charge-points/", views.charge_point_list, name="charge_point_list"),
    path("charge-points/new/", views.charge_point_create, name="charge_point_create"),
    path("charge-points/import/", views.charger_import, name="charger_import"),
    path(
        "charge-points/<int:pk>/",
        views.charge_point_detail,
        name="charge_point_detail",
    ),
    path(
        "charge-points/<int:pk>/security/",
        security_views.charge_point_security,
        name="charge_point_security",
    ),
    path(
        "charge-points/<int:pk>/security/renew-certificate/",
        security_views.charge_point_certificate_renew_view,
        name="charge_point_certificate_renew",
    ),
    path(
        "charge-points/<int:pk>/security/rotate-password/",
        security_views.charge_point_password_rotate_view,
        name="charge_point_password_rotate",
    ),
    path(
        "charge-points/<int:pk>/edit/",
        views.charge_point_edit,
        name="charge_point_edit",
    ),
    path(
        "charge-points/<int:pk>/assign/",
        views.charge_point_assign,
        name="charge_point_assign",
    ),
    path(
        "charge-points/<int:pk>/approve/",
        views.charge_point_approve,
        name="charge_point_approve",
    ),
    path(
        "charge-points/<int:pk>/reject/",
        views.charge_point_reject,
        name="charge_point_reject",
    ),
    path(
        "charge-points/<int:pk>/connectors/new/",
        views.connector_create,
        name="connector_create",
    ),
    path("connectors/<int:pk>/edit/", views.connector_edit, name="connector_edit"),
    path(
        "connectors/<int:pk>/delete/", views.connector_delete, name="connector_delete"
    ),
    path("unassigned/", views.unassigned_list, name="unassigned_list"),
    path(
        "connection-attempts/",
        views.connection_attempts,
        name="connection_attempts",
    ),
    path("unassigned/assign/", views.unassigned_onboard, name="unassigned_onboard"),
]
