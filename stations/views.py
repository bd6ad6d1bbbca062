from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from stations.selectors import network_list_for_user


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    networks = network_list_for_user(user=request.user)
    return render(request, "stations/overview.html", {"networks": networks})
