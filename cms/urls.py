from django.urls import include, path

from cms import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("charging/", include("sessions_app.urls")),
    path("billing/", include("billing.urls")),
    path("alerts/", include("alerts.urls")),
    path("commands/", include("stations.command_urls")),
    path("", include("stations.urls")),
]
