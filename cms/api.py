"""What every REST endpoint shares: errors, authentication, pagination, ordering.

Error bodies are always ``{"errors": [{"field": ..., "message": ...}]}``;
``field`` is the offending input (dotted for nested input, e.g.
``elements.0.flat_price``) or null when the error concerns the request as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from cms.errors import InputError
from cms.parsers import payload_too_large

NON_FIELD_KEYS = {"non_field_errors", "__all__", "detail"}


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    if isinstance(detail, Mapping):
        errors: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = "" if key in NON_FIELD_KEYS else str(key)
            errors += _flatten(
                value, f"{prefix}.{name}" if prefix and name else name or prefix
            )
        return errors
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            return [{"field": prefix or None, "message": str(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            if item:  # DRF lists an empty dict for the valid items of a list
                errors += _flatten(
                    item,
                    f"{prefix}.{index}" if isinstance(item, Mapping) else prefix,
                )
        return errors
    return [{"field": prefix or None, "message": str(detail)}]


def error_body(detail: Any, field: str | None = None) -> dict[str, Any]:
    if isinstance(detail, str):
        return {"errors": [{"field": field, "message": detail}]}
    return {"errors": _flatten(detail, field or "")}


def _django_validation_detail(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return {
            key: [message for item in errors for message in item.messages]
            for key, errors in error.error_dict.items()
        }
    return list(error.messages)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler with one error shape; Django's and domain errors map to 4xx."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, InputError):
        exc = exceptions.ValidationError({exc.field or "payload": [str(exc)]})
    elif isinstance(exc, RequestDataTooBig):
        exc = payload_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_body(response.data)
    return response


class ErrorSerializer(serializers.Serializer):
    class ItemSerializer(serializers.Serializer):
        field = serializers.CharField(
            allow_null=True, help_text="Offending input field; null for the request."
        )
        message = serializers.CharField()

    # DRF's metaclass moves declared fields off the class: Serializer.errors stays.
    errors = ItemSerializer(many=True)  # type: ignore[assignment]


ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (field named)."),
    409: OpenApiResponse(ErrorSerializer, description="Not possible in this state."),
    429: OpenApiResponse(ErrorSerializer, description="Rate limit exceeded."),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="Role does not allow this."),
    404: OpenApiResponse(ErrorSerializer, description="Not found in your scope."),
}


def responses(ok: Any, *extra_codes: int) -> dict[int, Any]:
    """An ``extend_schema`` responses map: ``ok`` plus the standard error bodies."""
    codes: dict[int, Any] = {}
    for code, body in ok.items() if isinstance(ok, dict) else [(200, ok)]:
        codes[int(code)] = body
    for code in (401, 403, 404, *extra_codes):
        codes.setdefault(
            code,
            ERROR_RESPONSES.get(code)
            or OpenApiResponse(ErrorSerializer, description="Error."),
        )
    return codes


# --- Authentication and permissions -----------------------------------------------


class IsStaffAccount(IsAuthenticated):
    """Operator endpoints: any authenticated portal account, never a driver."""

    message = "Driver accounts cannot use operator endpoints."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and not getattr(
            request.user, "is_driver", False
        )


class IsDriverAccount(IsAuthenticated):
    message = "Only driver accounts can use driver endpoints."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and bool(
            getattr(request.user, "is_driver", False)
        )


# Primary keys are 64-bit; larger numbers would overflow the database driver.
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    """An object id in input: a positive 64-bit integer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class ApiView(APIView):
    """Base of every operator endpoint (token first: a bad token answers 401)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes: list[type[BasePermission]] = [IsStaffAccount]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if int(kwargs.get("pk", 1)) > MAX_ID:
            raise exceptions.NotFound("Not found.")


class DriverApiView(ApiView):
    """Base of the driver app's endpoints: driver accounts only, rate limited."""

    permission_classes = [IsDriverAccount]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "driver"


# --- Pagination, filters, ordering ------------------------------------------------


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("page_size", int, description="Items per page (max 500)."),
]


def paginated(
    view: APIView, queryset: QuerySet[Any] | list[Any], serializer: type[Any]
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def ordering_parameter(allowed: Iterable[str], default: str) -> OpenApiParameter:
    names = list(allowed)
    return OpenApiParameter(
        "ordering",
        str,
        description=f"Sort by {', '.join(names)}; prefix '-' for descending. "
        f"Default {default}.",
        enum=[*names, *(f"-{name}" for name in names)],
    )


def ordered(
    queryset: QuerySet[Any],
    request: Request,
    allowed: Mapping[str, str],
    default: str,
) -> QuerySet[Any]:
    """Apply ``?ordering=`` mapped through ``allowed`` (API name -> ORM field)."""
    raw = request.query_params.get("ordering", "") or default
    descending = raw.startswith("-")
    name = raw.removeprefix("-")
    if name not in allowed:
        raise exceptions.ValidationError(
            {"ordering": [f"Choose one of {', '.join(sorted(allowed))} (or -name)."]}
        )
    field = allowed[name]
    return queryset.order_by(
        f"-{field}" if descending else field, "-pk" if descending else "pk"
    )


def query_input(
    serializer_class: type[serializers.Serializer], request: Request
) -> dict[str, Any]:
    """Validate query parameters with a serializer; errors name the parameter."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def body_input(
    serializer_class: type[serializers.Serializer],
    request: Request,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    if not isinstance(request.data, Mapping):
        raise exceptions.ValidationError(["Send a JSON object."])
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class Conflict(exceptions.APIException):
    """409: the request is valid but the current state does not allow it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."

    def __init__(self, field: str, message: str) -> None:
        super().__init__({field: [message]})


# A client may try again after this many seconds when the gateway was unreachable.
RETRY_AFTER_UNREACHABLE_S = 5


def accepted(data: Any, *, unreachable: bool = False) -> Response:
    """202 for a command on its way; 503 (with the same body and ``Retry-After``)
    when it could not be handed to the gateway, e.g. during a Redis outage: the
    command is recorded as failed and says why in ``error_description``."""
    if unreachable:
        return Response(
            data,
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_UNREACHABLE_S)},
        )
    return Response(data, status=status.HTTP_202_ACCEPTED)
