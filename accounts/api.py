"""Integration API of the accounts app: who does this token (or session) belong to."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.scope import is_administrator
from stations.selectors import network_list_for_user


class MeApi(APIView):
    """The authenticated account: username, roles and the networks in its scope."""

    # Token first, so a missing or revoked token answers 401 with WWW-Authenticate.
    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="MeNetwork")
        class NetworkSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            currency = serializers.CharField()
            time_zone = serializers.CharField()

        username = serializers.CharField()
        email = serializers.EmailField()
        name = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        is_driver = serializers.BooleanField()
        is_administrator = serializers.BooleanField()
        networks = NetworkSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        data = {
            "username": user.username,
            "email": user.email,
            "name": user.get_full_name(),
            "roles": user.role_names,
            "is_driver": user.is_driver,
            "is_administrator": is_administrator(user),
            "networks": list(network_list_for_user(user=user)),
        }
        return Response(self.OutputSerializer(data).data)
