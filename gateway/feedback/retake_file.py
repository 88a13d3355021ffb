"""The retakes the server asked for and the hub has not yet reminded, kept in the hub's state
directory so a restart between the prompt and its time (a power cut, an update) does not
lose the reminder. Written whole and atomically on every change; read once at start.

A retake whose time is more than ``STALE_AFTER`` past at start is dropped: the rule the daily
reminders follow (``schedule.LATE_LIMIT``). Hours later "please take it again" no longer
belongs to the reading it questioned, and the server does not rely on it: its own retake and
missed-reading rules raise an alert for a reading that never came.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Final
from uuid import UUID

from common.wire.vocabulary import ReadingKind
from gateway.atomic_file import write_json
from gateway.feedback.schedule import LATE_LIMIT, PendingRetake

log = logging.getLogger(__name__)

FILE_NAME: Final = "pending-retakes.json"
STALE_AFTER: Final = LATE_LIMIT


def save_retakes(path: Path, retakes: dict[UUID, PendingRetake]) -> None:
    """Raises ``OSError`` (a full or failing card): the caller logs it and goes on."""
    write_json(
        path,
        {
            "retakes": [
                {
                    "command_id": str(command_id),
                    "kind": r.kind.value,
                    "asked_at": r.asked_at.isoformat(),
                    "due_at": r.due_at.isoformat(),
                }
                for command_id, r in retakes.items()
            ]
        },
    )


def load_retakes(path: Path, now: datetime) -> dict[UUID, PendingRetake]:
    """The retakes saved before the restart, less the stale ones. A missing file is none; an
    unreadable one is logged and treated as none (the reminder is a courtesy: the readings
    and alerts never depend on it)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("pending retakes in %s not read (%s); none will be reminded", path, e)
        return {}
    out: dict[UUID, PendingRetake] = {}
    for item in body.get("retakes", []) if isinstance(body, dict) else []:
        try:
            command_id = UUID(item["command_id"])
            retake = PendingRetake(
                ReadingKind(item["kind"]),
                datetime.fromisoformat(item["asked_at"]),
                datetime.fromisoformat(item["due_at"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            log.warning("a pending retake in %s is unreadable (%s); skipped", path, e)
            continue
        if retake.due_at.tzinfo is None or now - retake.due_at > STALE_AFTER:
            log.info("pending %s retake from %s dropped: long past", retake.kind, retake.asked_at)
            continue
        out[command_id] = retake
    return out
