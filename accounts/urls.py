from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api, twofactor_views, views

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        twofactor_views.PortalLoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("login/code/", twofactor_views.login_code, name="login_code"),
    path("two-factor/", twofactor_views.two_factor_settings, name="two_factor"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url="/accounts/password/done/",
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("preferences/", views.preferences, name="preferences"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create_view, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", views.user_edit, name="user_edit"),
    path(
        "users/<int:pk>/password/",
        views.user_password_reset,
        name="user_password_reset",
    ),
    path(
        "users/<int:pk>/networks/grant/",
        views.user_network_grant,
        name="user_network_grant",
    ),
    path(
        "users/<int:pk>/networks/<int:network_pk>/revoke/",
        views.user_network_revoke,
        name="user_network_revoke",
    ),
    path(
        "users/<int:pk>/two-factor/reset/",
        twofactor_views.user_two_factor_reset,
        name="user_two_factor_reset",
    ),
    path("users/<int:pk>/token/", views.user_token_create, name="user_token_create"),
    path(
        "users/<int:pk>/token/revoke/",
        views.user_token_revoke,
        name="user_token_revoke",
    ),
    path("audit/", views.audit_log, name="audit_log"),
    path("api/me/", api.MeApi.as_view(), name="api_me"),
]
