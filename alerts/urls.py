from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="alert_list"),
    path("badge/", views.alert_badge, name="alert_badge"),
    path("<int:pk>/", views.alert_detail, name="alert_detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("<int:pk>/resolve/", views.alert_resolve, name="alert_resolve"),
    path(
        "<int:pk>/zombie/<str:action>/",
        views.alert_zombie_action,
        name="alert_zombie_action",
    ),
    path(
        "charge-points/<int:pk>/",
        views.charge_point_alert_history,
        name="charge_point_history",
    ),
    path("tickets/", views.ticket_list, name="ticket_list"),
    path("tickets/new/", views.ticket_create, name="ticket_create"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/edit/", views.ticket_edit, name="ticket_edit"),
    path("rules/", views.rule_config_list, name="rule_config_list"),
    path("rules/<int:network_pk>/", views.rule_config_edit, name="rule_config_edit"),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_deliveries, name="webhook_deliveries"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
]
