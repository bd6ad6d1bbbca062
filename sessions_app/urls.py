from django.urls import path

from sessions_app import views

app_name = "charging"

urlpatterns = [
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/new/", views.token_create, name="token_create"),
    path("tokens/import/", views.token_import, name="token_import"),
    path("tokens/<int:pk>/edit/", views.token_edit, name="token_edit"),
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/export.csv", views.session_export_csv, name="session_export_csv"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/live.json", views.session_live, name="session_live"),
    path(
        "sessions/<int:pk>/<str:action>/", views.session_action, name="session_action"
    ),
    path("unmatched-stops/", views.unmatched_stop_list, name="unmatched_stop_list"),
    path(
        "unmatched-stops/<int:pk>/resolve/",
        views.unmatched_stop_resolve_view,
        name="unmatched_stop_resolve",
    ),
]
