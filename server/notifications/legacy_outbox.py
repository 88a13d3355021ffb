"""Carry deliveries over from the SQLite outbox file the ticker kept before migration 0011
(``CAREWATCH_NOTIFICATIONS__OUTBOX_PATH``, by default /var/lib/carewatch/notify-outbox.sqlite3).

Every row comes over as it stood: pending ones keep their attempts and their next try, failed
ones stay failed and visible (and can be requeued), sent ones keep their receipts as the
record of who was told. Ids are the same deterministic delivery ids, so importing twice, or a
file whose notifications the new queue already holds, adds nothing. The file is only read.

The ticker that used the file must be stopped first: deliveries it sent after the import
would be sent again by the new one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alerts.notify.message import InvalidNotification, Notification
from alerts.notify.routing import ChannelKind
from server.notifications.queue import Status, insert_unless_present
from server.store.database import Database

log = logging.getLogger(__name__)

#: Where the file was by default, and the setting that moved it.
DEFAULT_PATH = Path("/var/lib/carewatch/notify-outbox.sqlite3")
OLD_SETTING = "CAREWATCH_NOTIFICATIONS__OUTBOX_PATH"

_COLUMNS = (
    "delivery_id, notification_id, alert_id, team, channel, target, secret_id, payload, status, attempts,"
    " created_at, next_attempt_at, last_attempt_at, sent_at, last_error, receipt"
)


class LegacyOutboxError(RuntimeError):
    """The file is not a notification outbox that can be read: nothing was imported."""


@dataclass
class ImportResult:
    added: Counter[str] = field(default_factory=Counter)  # by status
    already_present: int = 0
    unreadable: list[str] = field(default_factory=list)  # delivery ids, with why


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(str(value)), UTC)


def _rows(path: Path) -> list[tuple[object, ...]]:
    if not path.is_file():
        raise LegacyOutboxError(f"{path}: no such file")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            query = f"SELECT {_COLUMNS} FROM deliveries ORDER BY created_at, delivery_id"  # noqa: S608
            return list(conn.execute(query).fetchall())
    except sqlite3.Error as e:
        raise LegacyOutboxError(f"{path}: not a readable notification outbox: {e}") from e


def import_outbox(db: Database, path: Path) -> ImportResult:
    """All the file's deliveries into the queue, in one transaction."""
    rows = _rows(path)
    result = ImportResult()
    with db.session() as s:
        for row in rows:
            (delivery_id, notification_id, alert_id, team, channel, target, secret_id, payload, status) = row[
                :9
            ]
            (attempts, created_at, next_attempt_at, last_attempt_at, sent_at, last_error, receipt) = row[9:]
            try:
                Notification.from_json(str(payload))
                ChannelKind(str(channel))
                Status(str(status))
                created = _time(created_at)
                next_try = _time(next_attempt_at)
            except (InvalidNotification, ValueError) as e:
                result.unreadable.append(f"{delivery_id}: {e}")
                continue
            added = insert_unless_present(
                s,
                {
                    "id": str(delivery_id),
                    "notification_id": str(notification_id),
                    "alert_id": str(alert_id),
                    "team": str(team),
                    "channel": str(channel),
                    "target": str(target),
                    "secret_id": None if secret_id is None else str(secret_id),
                    "payload": str(payload),
                    "status": str(status),
                    "attempts": int(str(attempts)),
                    "created_at": created,
                    "next_attempt_at": next_try,
                    "last_attempt_at": _time(last_attempt_at),
                    "sent_at": _time(sent_at),
                    "last_error": None if last_error is None else str(last_error),
                    "receipt": None if receipt is None else str(receipt),
                },
            )
            if added:
                result.added[str(status)] += 1
            else:
                result.already_present += 1
    return result


def warn_if_left_over(environ: dict[str, str] | None = None) -> Path | None:
    """At the ticker's start: say so, loudly, if an old outbox file is still where the old
    setting (or its default) put it. Its deliveries are sent from nowhere until imported."""
    env = os.environ if environ is None else environ
    path = Path(env.get(OLD_SETTING) or DEFAULT_PATH)
    if not path.exists():
        return None
    log.warning(
        "%s is the notification outbox of a ticker from before migration 0011: nothing is sent "
        "from it any more. Carry its deliveries over with `carewatch server notifications "
        "import-outbox %s`, then archive the file%s",
        path,
        path,
        f" and remove {OLD_SETTING} from the settings" if OLD_SETTING in env else "",
    )
    return path
