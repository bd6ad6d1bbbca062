"""What we push to partners: queued by the session.started subscriber and the
periodic sweep (``roaming.tasks.roaming_retry_sweep_task``).

- An EVSE's status (mod_locations Receiver PATCH with the changed fields and
  last_updated) to every registered partner with a Locations Receiver.
- A roaming session (mod_sessions Receiver PUT when it starts, then PATCH of
  what changes) and its CDR (mod_cdrs Receiver POST) only to the partner whose
  token it is; the PATCHes come from the periodic sweep.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from cms.events import TaskCalls
from roaming.cpo.locations import _STATUS, evse_uid, published_stations
from roaming.cpo.sessions import cdr_object, session_changes, session_object
from roaming.models import Partner, PartnerStatus, RoamingPush, RoamingSession
from roaming.push import client_owned_url, push_enqueue
from roaming.transport import ocpi_timestamp
from sessions_app.models import SessionStatus
from stations.models import Connector, ConnectorStatus


def _deliver_soon() -> TaskCalls:
    from roaming.tasks import roaming_pushes_deliver_task

    return [roaming_pushes_deliver_task.si()]


def evse_status_pushes_enqueue() -> int:
    """Queue a status PATCH for every EVSE whose status arrived since the last sweep.

    A sweep rather than an event subscriber: StatusNotification is a hot kind,
    batched for all chargers, and a subscriber outside the product would add
    an outbox write to every batch. Statuses of one EVSE are queued in the
    order they arrived, so the partner ends with the newest.
    """
    queued = 0
    stations = published_stations().values("pk")
    for partner in Partner.objects.filter(status=PartnerStatus.REGISTERED):
        url = partner.endpoint_url("locations", "RECEIVER")
        if url is None or not partner.has_role("EMSP"):
            continue
        since = partner.evse_pushed_until or partner.registered_at
        connectors = (
            Connector.objects.select_related("charge_point")
            .filter(
                charge_point__station__in=stations, status_received_at__isnull=False
            )
            .exclude(roaming_publication__is_published=False)
        )
        if since is not None:
            connectors = connectors.filter(status_received_at__gt=since)
        changed = list(connectors.order_by("status_received_at", "pk")[:500])
        for connector in changed:
            uid = evse_uid(connector)
            status = _STATUS.get(ConnectorStatus(connector.status), "UNKNOWN")
            push_enqueue(
                partner=partner,
                object_key=f"evse:{uid}",
                method="PATCH",
                url=client_owned_url(url, str(connector.charge_point.station_id), uid),
                body={
                    "status": status if connector.charge_point.is_online else "UNKNOWN",
                    "last_updated": ocpi_timestamp(
                        connector.status_at or connector.status_received_at
                    ),
                },
            )
            queued += 1
        if changed:
            Partner.objects.filter(pk=partner.pk).update(
                evse_pushed_until=changed[-1].status_received_at
            )
    return queued


def evse_publication_pushes_enqueue(*, connector: Connector, is_published: bool) -> int:
    """Tell every partner with a Locations Receiver that an EVSE left or came back.

    mod_locations "Status enum" REMOVED: the EVSE cannot be used any more; a
    republished EVSE is pushed whole (PUT), as the partner may have dropped it.
    """
    from cms.tasks import enqueue_on_commit
    from roaming.cpo.locations import evse_object_of
    from roaming.tasks import roaming_pushes_deliver_task

    station_id = connector.charge_point.station_id
    if station_id is None:
        return 0
    queued = 0
    uid = evse_uid(connector)
    for partner in Partner.objects.filter(status=PartnerStatus.REGISTERED):
        url = partner.endpoint_url("locations", "RECEIVER")
        if url is None or not partner.has_role("EMSP"):
            continue
        if is_published:
            body = evse_object_of(connector, partner)
            if body is None:  # its station is not published: nothing to show
                continue
            method = "PUT"
        else:
            method = "PATCH"
            body = {"status": "REMOVED", "last_updated": ocpi_timestamp()}
        push_enqueue(
            partner=partner,
            object_key=f"evse:{uid}",
            method=method,
            url=client_owned_url(url, str(station_id), uid),
            body=body,
        )
        queued += 1
    if queued:
        enqueue_on_commit(roaming_pushes_deliver_task)
    return queued


def _session_url(link: RoamingSession) -> str | None:
    url = link.partner.endpoint_url("sessions", "RECEIVER")
    return client_owned_url(url, str(link.session_id)) if url else None


def session_push_start(link: RoamingSession) -> TaskCalls:
    """Queue the whole Session for its eMSP (PUT creates it there)."""
    url = _session_url(link)
    if url is None:
        return None
    push_enqueue(
        partner=link.partner,
        object_key=f"session:{link.session_id}",
        method="PUT",
        url=url,
        body=session_object(link),
    )
    return _deliver_soon()


def session_pushes_enqueue() -> int:
    """Queue a PATCH for every roaming session whose figures changed since its last push.

    Run by the periodic sweep while sessions charge (and once after they end),
    so the charger's meter-value path writes nothing for roaming.
    """
    queued = 0
    links = RoamingSession.objects.select_related(
        "partner", "token", "session__charge_point__station__network"
    ).filter(partner__status=PartnerStatus.REGISTERED)
    recent = timezone.now() - timedelta(days=1)
    links = links.filter(
        Q(session__status=SessionStatus.ACTIVE) | Q(session__stopped_at__gte=recent)
    )
    for link in links:
        url = _session_url(link)
        key = f"session:{link.session_id}"
        last = (
            RoamingPush.objects.filter(partner=link.partner, object_key=key)
            .order_by("-pk")
            .first()
        )
        if url is None or last is None:
            continue  # no Sessions Receiver, or the PUT of session_push_start is due
        changes = session_changes(link)
        before = {k: v for k, v in last.body.items() if k != "last_updated"}
        if all(before.get(k) == v for k, v in changes.items() if k != "last_updated"):
            continue
        push_enqueue(
            partner=link.partner, object_key=key, method="PATCH", url=url, body=changes
        )
        queued += 1
    return queued


def cdr_pushes_enqueue() -> int:
    """Queue the CDR of every priced roaming session not pushed yet (for the sweep)."""
    from billing.models import Cdr

    queued = 0
    pushed = RoamingPush.objects.filter(object_key__startswith="cdr:").values_list(
        "object_key", flat=True
    )
    done = set(pushed)
    links = RoamingSession.objects.select_related(
        "partner", "token", "session__charge_point", "session__connector"
    ).filter(
        partner__status=PartnerStatus.REGISTERED,
        session__cdr__isnull=False,
        session__charge_point__station__isnull=False,
    )
    for link in links:
        cdr = Cdr.objects.select_related("station").get(session_id=link.session_id)
        key = f"cdr:{cdr.pk}"
        url = link.partner.endpoint_url("cdrs", "RECEIVER")
        if key in done or url is None:
            continue
        # mod_cdrs "Receiver Interface": the CPO POSTs new CDRs to the endpoint.
        push_enqueue(
            partner=link.partner, object_key=key, method="POST", url=url,
            body=cdr_object(cdr, link),
        )  # fmt: skip
        queued += 1
    return queued
