"""One-off commands from the server to a hub, on the hub's ``commands`` topic: for now, asking
the patient to take a reading again (the alert engine's retake findings send it).

Not retained: a command is for now. The hub's persistent session holds it while the hub is
briefly away; a hub that never connected, or whose session expired, cannot get it, and
``send_retake`` says so (``NotDelivered``) rather than pretending.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from common.mqtt import BrokerEndpoint
from common.wire.commands import DEFAULT_RETAKE_AFTER_S, RetakeReason, RetakeRequest
from common.wire.topics import Channel, topic
from common.wire.vocabulary import ReadingKind
from server.mqtt_publish import NotDelivered, publish_acknowledged

__all__ = ["NotDelivered", "Publisher", "retake_request", "send_retake"]

#: How a message reaches the broker: ``(topic, payload)``, raising ``NotDelivered``.
Publisher = Callable[[str, bytes], None]


def broker_publisher(endpoint: BrokerEndpoint) -> Publisher:
    """Publish with the control plane's identity (the one that may write hubs' commands)."""

    def publish(topic_name: str, payload: bytes) -> None:
        publish_acknowledged(endpoint, topic_name, payload, retain=False)

    return publish


def retake_request(
    hub_id: str,
    reading_id: UUID,
    kind: ReadingKind,
    reason: RetakeReason,
    *,
    retake_after_s: int = DEFAULT_RETAKE_AFTER_S,
) -> RetakeRequest:
    return RetakeRequest(
        command_id=uuid.uuid4(),
        hub_id=hub_id,
        issued_at=datetime.now(UTC),
        reading_id=reading_id,
        kind=kind,
        reason=reason,
        retake_after_s=retake_after_s,
    )


def send_retake(publisher: Publisher | BrokerEndpoint, hub_id: str, request: RetakeRequest) -> None:
    """Ask ``hub_id``'s patient to take the reading again; raises ``NotDelivered``."""
    if request.hub_id != hub_id:
        raise ValueError(f"a retake request for hub {request.hub_id!r} cannot go to {hub_id!r}")
    publish = broker_publisher(publisher) if isinstance(publisher, BrokerEndpoint) else publisher
    publish(topic(hub_id, Channel.COMMANDS), request.to_json())
