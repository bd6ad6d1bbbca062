"""Finance screens: tariffs, CDRs and receipts, revenue and exports."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from billing import exports, services
from billing.forms import (
    CdrFilterForm,
    CreditNoteForm,
    StatementForm,
    TariffAssignmentForm,
    TariffElementFormSet,
    TariffForm,
    element_initial,
)
from billing.models import Payment, RatingStatus, SessionTariff, Tariff
from billing.receipts import receipt_context, receipt_pdf
from billing.selectors import (
    CdrFilter,
    cdr_get_for_user,
    cdr_list_for_user,
    rating_problems_for_user,
    revenue_for_user,
    tariff_get_for_user,
    tariff_list_for_user,
)
from billing.statements import network_statement, statement_rows
from cms.csvexport import csv_streaming_response
from stations.selectors import (
    network_ids_for_user,
    network_list_for_user,
    station_list_for_user,
)


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def _apply_errors(form: Any, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


# --- Tariffs -------------------------------------------------------------------------


@require_GET
@login_required
def tariff_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    tariffs = tariff_list_for_user(user=request.user).prefetch_related("elements")
    return render(
        request,
        "billing/tariff_list.html",
        {"tariffs": tariffs, "can_add": request.user.has_perm("billing.add_tariff")},
    )


def _save_tariff(
    request: AuthenticatedHttpRequest,
    form: TariffForm,
    formset: Any,
    tariff: Tariff | None,
) -> Tariff | None:
    data = {k: v for k, v in form.cleaned_data.items() if k != "network"}
    try:
        if tariff is None:
            return services.tariff_create(
                actor=request.user,
                network=form.cleaned_data["network"],
                data=data,
                elements=formset.elements(),
            )
        return services.tariff_update(
            actor=request.user, tariff=tariff, data=data, elements=formset.elements()
        )
    except ValidationError as error:
        _apply_errors(form, error)
        return None


@require_http_methods(["GET", "POST"])
@login_required
def tariff_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "billing.add_tariff")
    networks = network_list_for_user(user=request.user)
    if request.method == "POST":
        form = TariffForm(request.POST, networks=networks)
        formset = TariffElementFormSet(request.POST, prefix="elements")
        if form.is_valid() and formset.is_valid():
            tariff = _save_tariff(request, form, formset, None)
            if tariff is not None:
                messages.success(request, f"Tariff “{tariff}” created.")
                return redirect("billing:tariff_detail", pk=tariff.pk)
    else:
        first = networks.first()
        form = TariffForm(
            networks=networks,
            initial={"network": first, "currency": first.currency if first else ""},
        )
        formset = TariffElementFormSet(prefix="elements")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "billing/tariff_form.html",
        {"form": form, "formset": formset, "tariff": None},
        status=status,
    )


@require_GET
@login_required
def tariff_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    tariff = tariff_get_for_user(user=request.user, pk=pk)
    return render(
        request,
        "billing/tariff_detail.html",
        {
            "tariff": tariff,
            "elements": tariff.elements.all(),
            "assignments": tariff.assignments.select_related("station", "token_group"),
            "revisions": tariff.revisions.select_related("created_by")[:20],
            "can_change": request.user.has_perm("billing.change_tariff"),
            "assignment_form": TariffAssignmentForm(tariff=tariff),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def tariff_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    tariff = tariff_get_for_user(user=request.user, pk=pk, perm="billing.change_tariff")
    if request.method == "POST":
        form = TariffForm(request.POST, instance=tariff)
        formset = TariffElementFormSet(request.POST, prefix="elements")
        if form.is_valid() and formset.is_valid():
            saved = _save_tariff(request, form, formset, tariff)
            if saved is not None:
                messages.success(
                    request,
                    f"Tariff “{saved}” saved as revision {saved.revision}; it applies "
                    "to sessions starting from now.",
                )
                return redirect("billing:tariff_detail", pk=saved.pk)
        tariff.refresh_from_db()
    else:
        form = TariffForm(instance=tariff)
        formset = TariffElementFormSet(
            prefix="elements", initial=element_initial(tariff)
        )
    return render(
        request,
        "billing/tariff_form.html",
        {"form": form, "formset": formset, "tariff": tariff},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@login_required
def tariff_assignment_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    tariff = tariff_get_for_user(user=request.user, pk=pk, perm="billing.change_tariff")
    form = TariffAssignmentForm(request.POST, tariff=tariff)
    if form.is_valid():
        try:
            services.tariff_assignment_add(
                actor=request.user, tariff=tariff, **form.cleaned_data
            )
        except ValidationError as error:
            _apply_errors(form, error)
    if form.errors:
        return render(
            request,
            "billing/tariff_detail.html",
            {
                "tariff": tariff,
                "elements": tariff.elements.all(),
                "assignments": tariff.assignments.select_related(
                    "station", "token_group"
                ),
                "revisions": tariff.revisions.select_related("created_by")[:20],
                "can_change": True,
                "assignment_form": form,
            },
            status=400,
        )
    messages.success(request, "Assignment added.")
    return redirect("billing:tariff_detail", pk=tariff.pk)


@require_POST
@login_required
def tariff_assignment_remove(
    request: AuthenticatedHttpRequest, pk: int, assignment_pk: int
) -> HttpResponse:
    tariff = tariff_get_for_user(user=request.user, pk=pk, perm="billing.change_tariff")
    assignment = tariff.assignments.filter(pk=assignment_pk).first()
    if assignment is None:
        raise Http404("No such assignment.")
    services.tariff_assignment_remove(actor=request.user, assignment=assignment)
    messages.success(request, "Assignment removed.")
    return redirect("billing:tariff_detail", pk=tariff.pk)


# --- CDRs, receipts ------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> CdrFilterForm:
    return CdrFilterForm(
        request.GET or None,
        networks=network_list_for_user(user=request.user),
        stations=station_list_for_user(user=request.user),
    )


def _filters(form: CdrFilterForm) -> CdrFilter:
    if form.is_bound and form.is_valid():
        return form.to_filter()
    return CdrFilter()


@require_GET
@login_required
def cdr_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "billing.view_cdr")
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        queryset = cdr_list_for_user(user=request.user).none()
    else:
        queryset = cdr_list_for_user(user=request.user, filters=_filters(form))
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/cdr_list.html",
        {
            "form": form,
            "page": page,
            "problems": rating_problems_for_user(user=request.user)[:50],
            "query": request.GET.urlencode(),
            "can_retry": request.user.has_perm("billing.change_tariff"),
            "can_export": request.user.has_perm("billing.export_cdr"),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _cdr_detail_context(request: HttpRequest, cdr: Any, **extra: Any) -> dict[str, Any]:
    context = receipt_context(cdr)
    credited = cdr.credit_notes.aggregate(s=Sum("total_amount"))["s"] or 0
    context.update(
        {
            "credit_notes": cdr.credit_notes.select_related("created_by"),
            "credited": credited,
            "remaining": cdr.total_amount - credited,
            "payment": Payment.objects.filter(cdr=cdr).first(),
            "can_credit": request.user.has_perm("billing.add_creditnote"),
            "can_settle": request.user.has_perm("billing.change_payment"),
            "credit_form": CreditNoteForm(),
        }
    )
    context.update(extra)
    return context


@require_GET
@login_required
def cdr_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    cdr = cdr_get_for_user(user=request.user, pk=pk)
    return render(request, "billing/cdr_detail.html", _cdr_detail_context(request, cdr))


@require_POST
@login_required
def cdr_credit_note(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    cdr = cdr_get_for_user(user=request.user, pk=pk, perm="billing.add_creditnote")
    form = CreditNoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.credit_note_issue(
                actor=request.user, cdr=cdr, **form.cleaned_data
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"Credit note {note.number} issued.")
            return redirect("billing:cdr_detail", pk=cdr.pk)
    return render(
        request,
        "billing/cdr_detail.html",
        _cdr_detail_context(request, cdr, credit_form=form),
        status=400,
    )


@require_POST
@login_required
def cdr_payment_paid(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    cdr = cdr_get_for_user(user=request.user, pk=pk, perm="billing.change_payment")
    payment = Payment.objects.filter(cdr=cdr).first()
    if payment is None:
        raise Http404("This CDR has no payment yet.")
    services.payment_mark_paid(
        actor=request.user, payment=payment, reference=request.POST.get("reference", "")
    )
    messages.success(request, f"{cdr.number} marked as paid.")
    return redirect("billing:cdr_detail", pk=cdr.pk)


@require_GET
@login_required
def cdr_receipt(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    cdr = cdr_get_for_user(user=request.user, pk=pk)
    return render(request, "billing/receipt_document.html", receipt_context(cdr))


@require_GET
@login_required
def cdr_receipt_pdf(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    cdr = cdr_get_for_user(user=request.user, pk=pk)
    response = HttpResponse(receipt_pdf(cdr), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{cdr.number}.pdf"'
    return response


@require_POST
@login_required
def session_rating_retry(
    request: AuthenticatedHttpRequest, session_pk: int
) -> HttpResponse:
    _require(request, "billing.change_tariff")
    billing = (
        SessionTariff.objects.filter(
            session_id=session_pk,
            session__charge_point__station__network_id__in=network_ids_for_user(
                user=request.user
            ),
        )
        .exclude(status=RatingStatus.RATED)
        .first()
    )
    if billing is None:
        raise Http404("No such session awaiting rating.")
    cdr = services.session_rating_retry(actor=request.user, session_id=session_pk)
    if cdr is not None:
        messages.success(request, f"Session {session_pk} rated: {cdr.number}.")
        return redirect("billing:cdr_detail", pk=cdr.pk)
    billing.refresh_from_db()
    messages.warning(
        request,
        f"Session {session_pk}: {billing.get_status_display()}. {billing.error}".strip(),
    )
    return redirect("billing:cdr_list")


# --- Revenue and exports -------------------------------------------------------------


@require_GET
@login_required
def revenue(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "billing.export_cdr")
    form = _filter_form(request)
    valid = not form.is_bound or form.is_valid()
    rows = revenue_for_user(user=request.user, filters=_filters(form)) if valid else []
    return render(
        request,
        "billing/revenue.html",
        {"form": form, "rows": rows, "query": request.GET.urlencode()},
        status=200 if valid else 400,
    )


def _export(request: HttpRequest, kind: str) -> HttpResponseBase:
    _require(request, "billing.export_cdr")
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "billing/revenue.html",
            {"form": form, "rows": [], "query": ""},
            status=400,
        )
    queryset = cdr_list_for_user(user=request.user, filters=_filters(form))
    filename = f"cdrs-{timezone.now():%Y%m%d-%H%M%S}"
    if kind == "xlsx":
        return exports.xlsx_response(queryset, filename)
    return exports.csv_response(queryset, filename)


@require_GET
@login_required
def export_csv(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    return _export(request, "csv")


@require_GET
@login_required
def export_xlsx(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    return _export(request, "xlsx")


@require_GET
@login_required
def statement(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """A network's monthly statement (page, or CSV with ``format=csv``)."""
    _require(request, "billing.view_cdr")
    networks = network_list_for_user(user=request.user)
    form = StatementForm(request.GET or None, networks=networks)
    result = None
    if form.is_bound and form.is_valid():
        result = network_statement(
            network=form.cleaned_data["network"], month=form.cleaned_data["month"]
        )
        if request.GET.get("format") == "csv":
            return csv_streaming_response(
                statement_rows(result),
                filename=f"statement-{result.network.pk}-{result.month:%Y-%m}",
            )
    return render(
        request,
        "billing/statement.html",
        {"form": form, "statement": result, "query": request.GET.urlencode()},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )
