"""Hub telemetry: the hub's last health snapshot, kept on its row for technicians.

Telemetry is not clinical, so a bad message is not retried, but it is not dropped
silently either: ``TelemetryRefused`` carries the reason and the worker keeps the message
as a dead letter, like any other refusal.
"""

from __future__ import annotations

from pydantic import ValidationError

from common.wire.messages import HubTelemetry, summarise_validation
from server.ingest.verdicts import MessageRefused
from server.store.database import Database
from server.store.models import Hub, now


class TelemetryRefused(MessageRefused):
    """A telemetry message that is malformed, from an unknown hub, or about another hub."""


def record_hub_telemetry(db: Database, hub_id: str, payload: bytes) -> HubTelemetry:
    """Keep ``payload``, from hub ``hub_id``'s telemetry topic, as its latest snapshot."""
    try:
        telemetry = HubTelemetry.model_validate_json(payload)
    except ValidationError as e:
        raise TelemetryRefused(summarise_validation(e, what="hub telemetry"), hub_id) from None
    if telemetry.hub_id != hub_id:
        raise TelemetryRefused(
            f"telemetry says hub {telemetry.hub_id!r} but arrived on hub {hub_id!r}'s topic", hub_id
        )
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise TelemetryRefused(f"unknown hub {hub_id!r}", hub_id)
        hub.telemetry = telemetry.model_dump(mode="json", by_alias=True, exclude_none=True)
        hub.telemetry_at = now()
    return telemetry
