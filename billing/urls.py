from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("tariffs/", views.tariff_list, name="tariff_list"),
    path("tariffs/new/", views.tariff_create, name="tariff_create"),
    path("tariffs/<int:pk>/", views.tariff_detail, name="tariff_detail"),
    path("tariffs/<int:pk>/edit/", views.tariff_edit, name="tariff_edit"),
    path(
        "tariffs/<int:pk>/assignments/",
        views.tariff_assignment_add,
        name="tariff_assignment_add",
    ),
    path(
        "tariffs/<int:pk>/assignments/<int:assignment_pk>/remove/",
        views.tariff_assignment_remove,
        name="tariff_assignment_remove",
    ),
    path("cdrs/", views.cdr_list, name="cdr_list"),
    path("cdrs/<int:pk>/", views.cdr_detail, name="cdr_detail"),
    path("cdrs/<int:pk>/credit-notes/", views.cdr_credit_note, name="cdr_credit_note"),
    path("cdrs/<int:pk>/paid/", views.cdr_payment_paid, name="cdr_payment_paid"),
    path("cdrs/<int:pk>/receipt/", views.cdr_receipt, name="cdr_receipt"),
    path("cdrs/<int:pk>/receipt.pdf", views.cdr_receipt_pdf, name="cdr_receipt_pdf"),
    path(
        "sessions/<int:session_pk>/rate/",
        views.session_rating_retry,
        name="session_rating_retry",
    ),
    path("revenue/", views.revenue, name="revenue"),
    path("statements/", views.statement, name="statement"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.xlsx", views.export_xlsx, name="export_xlsx"),
]
