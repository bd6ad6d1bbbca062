"""Smart charging: portal pages (``smart-charging/``) and the API (``api/v1/smart-charging/``)."""

from __future__ import annotations

from django.urls import path

from stations.smart import api as smart_api
from stations.smart import views as smart_views

app_name = "smart"

urlpatterns = [
    path("stations/<int:pk>/", smart_views.site_smart, name="site"),
    path("stations/<int:pk>/summary/", smart_views.site_summary, name="summary"),
    path("stations/<int:pk>/series.json", smart_views.site_series, name="series"),
    path("stations/<int:pk>/limit/", smart_views.static_limit_set, name="static_limit"),
    path("stations/<int:pk>/schedule/", smart_views.schedule_add, name="schedule_add"),
    path(
        "stations/<int:pk>/schedule/<int:entry_pk>/delete/",
        smart_views.schedule_delete,
        name="schedule_delete",
    ),
    path("stations/<int:pk>/signals/", smart_views.signal_add, name="signal_add"),
    path(
        "stations/<int:pk>/signals/<int:signal_pk>/cancel/",
        smart_views.signal_cancel,
        name="signal_cancel",
    ),
    path(
        "stations/<int:pk>/connectors/<int:connector_pk>/",
        smart_views.connector_settings,
        name="connector_settings",
    ),
    path(
        "stations/<int:pk>/priority-tokens/",
        smart_views.priority_token_add,
        name="priority_token_add",
    ),
    path(
        "stations/<int:pk>/priority-tokens/<int:token_pk>/delete/",
        smart_views.priority_token_remove,
        name="priority_token_remove",
    ),
]

api_urlpatterns = [
    path("stations/<int:pk>/", smart_api.SiteLimitApi.as_view(), name="site_limit"),
    path(
        "stations/<int:pk>/signals/",
        smart_api.SiteLimitSignalApi.as_view(),
        name="site_signals",
    ),
]
