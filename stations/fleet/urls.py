"""Fleet operations: portal pages (``fleet/``) and the API (``api/v1/fleet/``)."""

from __future__ import annotations

from django.urls import path

from stations.fleet import api, views

app_name = "fleet"

urlpatterns = [
    path("configuration/", views.desired_configuration, name="desired_configuration"),
    path(
        "configuration/<int:pk>/remove/",
        views.desired_configuration_remove,
        name="desired_configuration_remove",
    ),
    path("configuration/drift/", views.configuration_drift, name="configuration_drift"),
    path("vendor-profiles/", views.vendor_profiles, name="vendor_profiles"),
    path("vendor-profiles/<int:pk>/", views.vendor_profiles, name="vendor_profile"),
    path(
        "vendor-profiles/<int:pk>/remove/",
        views.vendor_profile_remove,
        name="vendor_profile_remove",
    ),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path(
        "campaigns/<int:pk>/<str:verb>/",
        views.campaign_action,
        name="campaign_action",
    ),
]

api_urlpatterns = [
    path("configuration/", api.DesiredConfigurationApi.as_view(), name="desired"),
    path("configuration/drift/", api.DriftApi.as_view(), name="drift"),
    path("configuration/", views.desired_configuration, name="desired_configuration"),
    path(
        "configuration/<int:pk>/remove/",
        views.desired_configuration_remove,
        name="desired_configuration_remove",
    ),
    path("configuration/drift/", views.configuration_drift, name="configuration_drift"),
    path("campaigns/", api.CampaignListApi.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/", api.CampaignDetailApi.as_view(), name="campaign"),
    path(
        "campaigns/<int:pk>/<str:verb>/",
        api.CampaignActionApi.as_view(),
        name="campaign_action",
    ),
]
