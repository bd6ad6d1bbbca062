"""Outage pages (``/outages/``)."""

from __future__ import annotations

from django.urls import path

from stations.reliability import views

app_name = "reliability"

urlpatterns = [
    path("", views.outage_list, name="outage_list"),
    path("event/", views.outage_event, name="outage_event"),
    path("<int:pk>/classify/", views.outage_classify_view, name="outage_classify"),
]
