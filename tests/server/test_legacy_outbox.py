"""A deployment from before migration 0011 kept its deliveries in an SQLite file of their own:
``carewatch server notifications import-outbox FILE`` carries every one over as it stood,
once, and what was pending is then sent from the database's queue, what had failed is listed
and can be requeued. In-process through typer's runner, on a file written the way the old
outbox wrote it."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.notify.config import parse_routing_config
from alerts.notify.notifier import Attempt
from alerts.notify.routing import ChannelKind, Delivery, route
from carewatch.console import app as carewatch
from server.notifications.dispatch import Dispatcher, DispatchResult
from server.notifications.legacy_outbox import OLD_SETTING, warn_if_left_over
from server.notifications.queue import DeliveryQueue, Status
from server.store.database import Database, sqlite_url
from server.store.models import now as utcnow
from tests.notify.helpers import CONFIG_YAML, T0, notification

# The old outbox's own schema (alerts/notify/outbox.py before 0011), so the test does not
# depend on the code it replaces.
OLD_SCHEMA = """
CREATE TABLE deliveries (
    delivery_id TEXT PRIMARY KEY, notification_id TEXT NOT NULL, alert_id TEXT NOT NULL,
    team TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, secret_id TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
    last_attempt_at REAL, sent_at REAL, last_error TEXT, receipt TEXT
);
"""


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    def send(self, attempt: Attempt) -> str:
        self.sent.append(attempt.delivery)
        return "ok"


def old_outbox(path: Path) -> dict[ChannelKind, Delivery]:
    """Three deliveries of one notification, as an old ticker left them: the e-mail sent, the
    SMS given up on after two attempts, the webhook pending after one."""
    deliveries = {d.channel: d for d in route(notification(), parse_routing_config(CONFIG_YAML), T0)}
    t = T0.timestamp()
    rows = [
        (ChannelKind.EMAIL, "sent", 1, t, t, t, None, "smtp accepted by relay:25"),
        (ChannelKind.NOTIFY_SMS, "failed", 2, t + 40, t + 40, None, "attempt 2: GOV.UK Notify 400", None),
        (ChannelKind.WEBHOOK, "pending", 1, t + 35, t, None, "attempt 1: webhook HTTP 503", None),
    ]
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        for kind, status, attempts, next_at, last_at, sent_at, error, receipt in rows:
            d = deliveries[kind]
            conn.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    d.delivery_id,
                    d.notification.notification_id,
                    d.notification.alert_id,
                    d.team,
                    kind.value,
                    d.target,
                    d.secret_id,
                    d.notification.to_json(),
                    status,
                    attempts,
                    t,
                    next_at,
                    last_at,
                    sent_at,
                    error,
                    receipt,
                ),
            )
    conn.close()
    return deliveries


def test_an_old_outbox_is_carried_over_once_then_sent_listed_and_requeued(tmp_path: Path) -> None:
    db_file, old_file = tmp_path / "cw.sqlite3", tmp_path / "notify-outbox.sqlite3"
    deliveries = old_outbox(old_file)
    env = {"CAREWATCH_DATABASE_URL": sqlite_url(db_file)}
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(carewatch, ["server", "notifications", *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = cli("import-outbox", str(old_file))
    assert code == 0, err
    assert out.strip() == "imported 1 failed, 1 pending, 1 sent; 0 already in the queue"
    assert cli("import-outbox", str(old_file))[1].strip() == "imported nothing; 3 already in the queue"

    db = Database(sqlite_url(db_file))
    try:
        queue = DeliveryQueue(db)
        sms, webhook = deliveries[ChannelKind.NOTIFY_SMS], deliveries[ChannelKind.WEBHOOK]
        record = queue.get(webhook.delivery_id)
        assert record is not None
        assert (record.status, record.attempts, record.last_error) == (
            Status.PENDING,
            1,
            "attempt 1: webhook HTTP 503",
        )
        assert record.delivery == webhook  # the same notification, byte for byte
        recorder = Recorder()
        dispatcher = Dispatcher(queue, {k: recorder for k in ChannelKind})
        assert dispatcher.run_once(T0) == DispatchResult()  # not due before its old schedule
        assert dispatcher.run_once(T0.replace(minute=1)) == DispatchResult(sent=1)
        assert recorder.sent == [webhook]  # the sent e-mail and the failed SMS are not sent

        code, out, _ = cli("failed")
        assert code == 0
        [line] = out.splitlines()
        assert line.startswith(f"{sms.delivery_id} 2025-03-31 09:00:40 notify_sms team north to ")
        assert line.endswith("after 2 attempt(s): attempt 2: GOV.UK Notify 400")
        code, out, _ = cli("requeue", sms.delivery_id)
        assert (code, out.strip()) == (
            0,
            f"{sms.delivery_id}: requeued; the ticker sends it at its next tick",
        )
        assert cli("requeue", sms.delivery_id)[0] == 2  # no longer failed
        assert cli("failed")[1].strip() == "no delivery has been given up on"
        assert dispatcher.run_once(utcnow()) == DispatchResult(sent=1)  # requeued for now
        assert recorder.sent == [webhook, sms]
    finally:
        db.dispose()


def test_a_file_that_is_not_an_outbox_imports_nothing(tmp_path: Path) -> None:
    env = {"CAREWATCH_DATABASE_URL": sqlite_url(tmp_path / "cw.sqlite3")}
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).close()
    for path, says in ((other, "not a readable notification outbox"), (tmp_path / "nowhere", "no such file")):
        result = CliRunner().invoke(
            carewatch, ["server", "notifications", "import-outbox", str(path)], env=env
        )
        assert result.exit_code == 2
        assert says in result.stderr


def test_the_ticker_warns_while_an_old_outbox_file_is_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.notifications.legacy_outbox")
    left = tmp_path / "notify-outbox.sqlite3"
    assert warn_if_left_over({OLD_SETTING: str(left)}) is None
    old_outbox(left)
    assert warn_if_left_over({OLD_SETTING: str(left)}) == left
    [record] = caplog.records
    assert f"carewatch server notifications import-outbox {left}" in record.getMessage()
    assert f"remove {OLD_SETTING}" in record.getMessage()
