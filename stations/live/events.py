"""Live groups: which browsers an event's ``live_groups`` reach.

Every state change the portal shows (connector status, connection, sessions,
meter values, command results, alerts) is emitted by its service with
``cms.events.emit(event, live_groups=groups_for(...))`` and reaches browsers
after commit, so a browser never sees a state that was rolled back. Events travel on the live bus
(``stations.live.bus``: one Redis pub/sub message per batch, fanned out in each
process); browser sockets (``stations.live.sockets.LiveConsumer``) subscribe to these
groups; the payload is small JSON and the consumer decides what to re-render.

Group names are ASCII and at most 100 characters (channel-layer rule).
"""

from __future__ import annotations


def network_group(network_id: int) -> str:
    return f"live.network.{network_id}"


def station_group(station_id: int) -> str:
    return f"live.station.{station_id}"


def charge_point_live_group(charge_point_pk: int) -> str:
    """Browsers watching one charge point page."""
    return f"live.cp.{charge_point_pk}"


UNASSIGNED_GROUP = "live.unassigned"


def groups_for(
    *, network_id: int | None, station_id: int | None, charge_point_pk: int | None
) -> list[str]:
    groups: list[str] = []
    if network_id is not None:
        groups.append(network_group(network_id))
    else:
        groups.append(UNASSIGNED_GROUP)
    if station_id is not None:
        groups.append(station_group(station_id))
    if charge_point_pk is not None:
        groups.append(charge_point_live_group(charge_point_pk))
    return groups
