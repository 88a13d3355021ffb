"""Hub presence: the retained ``status`` topic (and last will) kept on the hub's row."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from gateway.wire.messages import HubStatus
from gateway.wire.topics import TopicError, parse
from server.store.database import Database
from server.store.models import Hub, now

log = logging.getLogger(__name__)


def record_hub_status(db: Database, topic_name: str, payload: bytes) -> None:
    try:
        hub_id = parse(topic_name).hub_id
        status = HubStatus.model_validate_json(payload)
    except (TopicError, ValidationError) as e:
        log.warning("ignoring malformed status on %s: %s", topic_name, e)
        return
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            log.warning("status from unknown hub %s", hub_id)
            return
        hub.status = status.state
        hub.status_at = status.at or now()
