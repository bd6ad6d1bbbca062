"""OCPI endpoints (``/ocpi/...``, for partners) and the portal's partner pages."""

from __future__ import annotations

from django.urls import include, path, re_path

from roaming import endpoints, views
from roaming.cpo import (
    chargingprofiles,
    commands,
    hubclientinfo,
    locations,
    sessions,
    tariffs,
    tokens,
)
from roaming.emsp import cdrs as emsp_cdrs
from roaming.emsp import commands as emsp_commands
from roaming.emsp import driver as emsp_driver
from roaming.emsp import locations as emsp_locations
from roaming.emsp import sessions as emsp_sessions
from roaming.emsp import tariffs as emsp_tariffs
from roaming.emsp import tokens as emsp_tokens
from roaming.transport import ModuleRootView

app_name = "roaming"

# Partners' clients differ on trailing slashes; both spellings are served.
ocpi_urlpatterns = [
    re_path(r"^versions/?$", endpoints.VersionsView.as_view(), name="ocpi_versions"),
    re_path(
        r"^2\.2\.1/?$",
        endpoints.VersionDetailsView.as_view(),
        name="ocpi_version_details",
    ),
    re_path(
        r"^2\.2\.1/credentials/?$",
        endpoints.CredentialsView.as_view(),
        name="ocpi_credentials",
    ),
    re_path(
        r"^cpo/2\.2\.1/locations/?$",
        locations.LocationListView.as_view(),
        name="ocpi_cpo_locations",
    ),
    re_path(
        r"^cpo/2\.2\.1/locations/(?P<location_id>[^/]{1,36})"
        r"(?:/(?P<evse_uid_>[^/]{1,36}))?(?:/(?P<connector_id>[^/]{1,36}))?/?$",
        locations.LocationObjectView.as_view(),
        name="ocpi_cpo_location",
    ),
    re_path(
        r"^cpo/2\.2\.1/tariffs/?$",
        tariffs.TariffListView.as_view(),
        name="ocpi_cpo_tariffs",
    ),
    re_path(
        r"^cpo/2\.2\.1/tariffs/(?P<tariff_id>[^/]{1,36})/?$",
        tariffs.TariffObjectView.as_view(),
        name="ocpi_cpo_tariff",
    ),
    re_path(
        r"^cpo/2\.2\.1/tokens/?$",
        ModuleRootView.as_view(module="tokens"),
        name="ocpi_cpo_tokens",
    ),
    re_path(
        r"^cpo/2\.2\.1/tokens/(?P<country_code>[^/]{2})/(?P<party_id>[^/]{1,3})"
        r"/(?P<token_uid>[^/]{1,36})/?$",
        tokens.TokenObjectView.as_view(),
        name="ocpi_cpo_token",
    ),
    re_path(
        r"^cpo/2\.2\.1/commands/?$",
        ModuleRootView.as_view(module="commands"),
        name="ocpi_cpo_commands",
    ),
    re_path(
        r"^cpo/2\.2\.1/commands/(?P<command>[A-Za-z_]{1,40})/?$",
        commands.CommandView.as_view(),
        name="ocpi_cpo_command",
    ),
    re_path(
        r"^cpo/2\.2\.1/sessions/?$",
        sessions.SessionListView.as_view(),
        name="ocpi_cpo_sessions",
    ),
    re_path(
        r"^cpo/2\.2\.1/cdrs/?$", sessions.CdrListView.as_view(), name="ocpi_cpo_cdrs"
    ),
    re_path(
        r"^cpo/2\.2\.1/chargingprofiles/?$",
        ModuleRootView.as_view(module="chargingprofiles"),
        name="ocpi_cpo_chargingprofiles",
    ),
    re_path(
        r"^cpo/2\.2\.1/chargingprofiles/(?P<session_id>[^/]{1,36})/?$",
        chargingprofiles.ChargingProfileView.as_view(),
        name="ocpi_cpo_chargingprofile",
    ),
    re_path(
        r"^cpo/2\.2\.1/hubclientinfo/?$",
        ModuleRootView.as_view(module="hubclientinfo"),
        name="ocpi_cpo_hubclientinfo",
    ),
    re_path(
        r"^cpo/2\.2\.1/hubclientinfo/(?P<country_code>[^/]{2})/(?P<party_id>[^/]{1,3})/?$",
        hubclientinfo.ClientInfoView.as_view(),
        name="ocpi_cpo_clientinfo",
    ),
    re_path(
        r"^emsp/2\.2\.1/tokens/?$",
        emsp_tokens.TokenListView.as_view(),
        name="ocpi_emsp_tokens",
    ),
    re_path(
        r"^emsp/2\.2\.1/tokens/(?P<token_uid>[^/]{1,36})/authorize/?$",
        emsp_tokens.TokenAuthorizeView.as_view(),
        name="ocpi_emsp_token_authorize",
    ),
    re_path(
        r"^emsp/2\.2\.1/commands/?$",
        ModuleRootView.as_view(module="commands"),
        name="ocpi_emsp_commands",
    ),
    # mod_commands Sender: the response_url we give names the command and our reference.
    re_path(
        r"^emsp/2\.2\.1/commands/(?P<command>[A-Z_]{1,20})/(?P<reference>[0-9a-f]{32})/?$",
        emsp_commands.CommandResultView.as_view(),
        name="ocpi_emsp_command_result",
    ),
    re_path(
        r"^emsp/2\.2\.1/sessions/?$",
        ModuleRootView.as_view(module="sessions"),
        name="ocpi_emsp_sessions",
    ),
    re_path(
        r"^emsp/2\.2\.1/sessions/(?P<country_code>[^/]{2})/(?P<party_id>[^/]{1,3})"
        r"/(?P<session_id>[^/]{1,36})/?$",
        emsp_sessions.SessionObjectView.as_view(),
        name="ocpi_emsp_session",
    ),
    re_path(
        r"^emsp/2\.2\.1/cdrs/?$", emsp_cdrs.CdrListView.as_view(), name="ocpi_emsp_cdrs"
    ),
    re_path(
        r"^emsp/2\.2\.1/cdrs/(?P<cdr_pk>[0-9]{1,18})/?$",
        emsp_cdrs.CdrObjectView.as_view(),
        name="ocpi_emsp_cdr",
    ),
    re_path(
        r"^emsp/2\.2\.1/locations/?$",
        ModuleRootView.as_view(module="locations"),
        name="ocpi_emsp_locations",
    ),
    re_path(
        r"^emsp/2\.2\.1/locations/(?P<country_code>[^/]{2})/(?P<party_id>[^/]{1,3})"
        r"/(?P<location_id>[^/]{1,36})(?:/(?P<evse_uid>[^/]{1,36}))?"
        r"(?:/(?P<connector_id>[^/]{1,36}))?/?$",
        emsp_locations.PartnerLocationView.as_view(),
        name="ocpi_emsp_location",
    ),
    re_path(
        r"^emsp/2\.2\.1/tariffs/?$",
        ModuleRootView.as_view(module="tariffs"),
        name="ocpi_emsp_tariffs",
    ),
    re_path(
        r"^emsp/2\.2\.1/tariffs/(?P<country_code>[^/]{2})/(?P<party_id>[^/]{1,3})"
        r"/(?P<tariff_id>[^/]{1,36})/?$",
        emsp_tariffs.PartnerTariffView.as_view(),
        name="ocpi_emsp_tariff",
    ),
    # Anything else under /ocpi/ is a 404 in the response format.
    re_path(r"^.*$", endpoints.unknown_endpoint),
]

portal_urlpatterns = [
    path("", views.partner_list, name="partner_list"),
    path("new/", views.partner_invite_view, name="partner_invite"),
    path("register/", views.partner_register_view, name="partner_register"),
    path("<int:pk>/", views.partner_detail, name="partner_detail"),
    path(
        "<int:pk>/unregister/", views.partner_unregister_view, name="partner_unregister"
    ),
]

urlpatterns = [
    path("ocpi/", include(ocpi_urlpatterns)),
    # The driver app at partner CPOs' stations (REST API v1, driver accounts).
    path(
        "api/v1/driver/partner-starts/",
        emsp_driver.DriverPartnerStartApi.as_view(),
        name="driver_partner_start",
    ),
    path(
        "api/v1/driver/partner-starts/<int:pk>/",
        emsp_driver.DriverPartnerStartDetailApi.as_view(),
        name="driver_partner_start_detail",
    ),
    path("roaming/partners/", include(portal_urlpatterns)),
    path("roaming/settlement/", views.settlement_view, name="settlement"),
    path(
        "roaming/partner-locations/",
        views.partner_location_list,
        name="partner_location_list",
    ),
    path(
        "roaming/partner-locations/<int:pk>/",
        views.partner_location_detail,
        name="partner_location_detail",
    ),
    path("roaming/publication/", views.publication_view, name="publication"),
    path(
        "roaming/publication/network/<int:pk>/",
        views.network_publication_set_view,
        name="publication_network",
    ),
    path(
        "roaming/publication/network/<int:pk>/tariff/",
        views.tariff_publication_set_view,
        name="publication_tariff",
    ),
    path(
        "roaming/publication/station/<int:pk>/",
        views.station_publication_set_view,
        name="publication_station",
    ),
    path(
        "roaming/publication/evse/<int:pk>/",
        views.evse_publication_set_view,
        name="publication_evse",
    ),
]
