from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cms import views
from stations.fleet import urls as fleet_urls
from stations.reports import urls as report_urls
from stations.smart import urls as smart_urls

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "api/v1/smart-charging/",
        include((smart_urls.api_urlpatterns, "smart_api")),
    ),
    path(
        "api/v1/reports/",
        include((report_urls.api_urlpatterns, "reports_api")),
    ),
    path("api/v1/fleet/", include((fleet_urls.api_urlpatterns, "fleet_api"))),
    path("api/v1/", include("cms.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema"),
        name="api_docs",
    ),
    path("accounts/", include("accounts.urls")),
    path("charging/", include("sessions_app.urls")),
    path("billing/", include("billing.urls")),
    path("alerts/", include("alerts.urls")),
    path("commands/", include("stations.remote.urls")),
    path("smart-charging/", include("stations.smart.urls")),
    path("fleet/", include("stations.fleet.urls")),
    path("reports/", include("stations.reports.urls")),
    path("outages/", include("stations.reliability.urls")),
    path("", include("roaming.urls")),
    path("", include("stations.urls")),
]

# A database outage answers 503 with Retry-After instead of 500 (cms/views.py).
handler500 = "cms.views.server_error"
