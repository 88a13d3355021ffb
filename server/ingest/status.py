"""Hub presence: the retained ``status`` topic (and last will) kept on the hub's row."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from common.wire.messages import HubStatus, summarise_validation
from server.ingest.verdicts import MessageRefused
from server.store.database import Database
from server.store.models import Hub, now

log = logging.getLogger(__name__)


class StatusRefused(MessageRefused):
    """A status message that is not one: kept as a dead letter by the worker."""


def record_hub_status(db: Database, hub_id: str, payload: bytes) -> None:
    """Keep ``payload``, from hub ``hub_id``'s status topic, as its presence."""
    try:
        status = HubStatus.model_validate_json(payload)
    except ValidationError as e:
        raise StatusRefused(summarise_validation(e, what="hub status"), hub_id) from None
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:  # presence of a hub the server does not know: nothing clinical to keep
            log.warning("status from unknown hub %s", hub_id)
            return
        hub.status = status.state
        hub.status_at = status.at or now()
