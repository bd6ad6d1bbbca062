from django.urls import path

from stations.remote import views

app_name = "commands"

urlpatterns = [
    path("cp/<int:pk>/console/", views.console, name="console"),
    path("cp/<int:pk>/send/<str:action>/", views.send, name="send"),
    path("cp/<int:pk>/history/", views.history, name="history"),
    path("cp/<int:pk>/configuration/", views.configuration, name="configuration"),
    path(
        "cp/<int:pk>/configuration/read/",
        views.configuration_read,
        name="configuration_read",
    ),
    path(
        "cp/<int:pk>/configuration/change/",
        views.configuration_edit,
        name="configuration_change",
    ),
    path(
        "device-model/",
        views.device_variable_fleet,
        name="device_variable_fleet",
    ),
    path("cp/<int:pk>/reservations/", views.reservations, name="reservations"),
    path(
        "reservation/<int:reservation_pk>/cancel/",
        views.reservation_cancel_view,
        name="reservation_cancel",
    ),
    path("cp/<int:pk>/local-list/", views.local_list, name="local_list"),
    path("cp/<int:pk>/firmware/", views.firmware, name="firmware"),
    path("cp/<int:pk>/profiles/", views.profiles, name="profiles"),
    path(
        "cp/<int:pk>/customer-information/",
        views.customer_information,
        name="customer_information",
    ),
    path(
        "profile/<int:profile_pk>/<str:verb>/",
        views.profile_action,
        name="profile_action",
    ),
    path("row/<int:command_pk>/", views.command_row, name="row"),
    path("remote-start/<int:handle_pk>/", views.remote_start, name="remote_start"),
    path("bulk/", views.bulk, name="bulk"),
    path("bulk/<uuid:batch_uuid>/", views.batch_detail, name="batch"),
]
