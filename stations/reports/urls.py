"""Reports: portal pages (``reports/``) and the API (``api/v1/reports/``)."""

from __future__ import annotations

from django.urls import path

from stations.reports import api as report_api
from stations.reports import views as report_views

app_name = "reports"

_KINDS = "<str:kind>"

urlpatterns = [
    path("", report_views.report_index, name="index"),
    path(
        "stations/<int:pk>/availability/",
        report_views.availability_day,
        name="availability_day",
    ),
    path(f"{_KINDS}.csv", report_views.report_csv, name="csv"),
    path(f"{_KINDS}.xlsx", report_views.report_xlsx, name="xlsx"),
    path(f"{_KINDS}/", report_views.report_page, name="report"),
]

api_urlpatterns = [
    path(
        "stations/<int:pk>/availability-windows/",
        report_api.AvailabilityWindowsApi.as_view(),
        name="availability_windows",
    ),
    path(f"{_KINDS}/", report_api.ReportApi.as_view(), name="report"),
]
