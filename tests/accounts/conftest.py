from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from accounts.models import Role, User
from stations.models import Network
from tests.factories import user_with_role


@pytest.fixture
def target(network_a: Network) -> User:
    """A support agent of network A with an API token: the user being administered."""
    user = user_with_role(
        Role.SUPPORT, network_a, username="target", email="target@example.org"
    )
    Token.objects.create(user=user)
    return user
