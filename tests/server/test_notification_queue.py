"""The one notification queue keeps its promises on the real PostgreSQL and a real SMTP server:
an alert change is e-mailed exactly once; a ticker killed between claiming a delivery and
recording it costs at most one more e-mail, never the e-mail; a failing channel is retried,
then given up on and visible; and two tickers at once never send the same delivery twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.notify.config import parse_routing_config
from alerts.notify.notifier import Attempt
from alerts.notify.routing import ChannelKind
from alerts.severity import Severity
from server.api.routes.health import judge_ticker
from server.heartbeat import Heartbeat, latest
from server.notifications.dispatch import Dispatcher
from server.notifications.queue import DeliveryQueue, RetryPolicy, Status
from server.notifications.relay import NotificationRelay
from server.processes import TICKER
from server.provisioning import add_patient
from server.settings import EscalationSettings, HealthSettings, NotificationSettings
from server.store.alerts import apply_finding
from server.store.database import Database
from server.store.models import now as utcnow
from server.tick import Ticker, ticker_detail
from tests.notify.helpers import T0, notification
from tests.notify.test_email import Mailbox, smtp_server

TEAM_ADDRESS = "north-dn@nhs.example"
ROUTING = f"""
timezone: Europe/London
teams:
  north:
    channels:
      - {{kind: email, to: [{TEAM_ADDRESS}]}}
"""
NO_ESCALATION = EscalationSettings(after_minutes=60 * 24 * 365)  # the clock moves; escalation must not


@pytest.fixture
def pg(postgres_database: str) -> Iterator[Database]:
    db = Database(postgres_database)
    db.migrate()
    yield db
    db.dispose()


@dataclass
class Server:
    """What ``carewatch server tick`` builds from its settings: the relay and the ticker."""

    relay: NotificationRelay
    ticker: Ticker

    @property
    def queue(self) -> DeliveryQueue:
        return self.relay.queue


def start_ticker(db: Database, smtp_port: int, tmp_path: Path) -> Server:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    cfg = NotificationSettings(
        routing_file=routing, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none"
    )
    relay = NotificationRelay.from_settings(db, cfg, "https://carewatch.example")
    assert relay is not None
    return Server(relay, Ticker(db, NO_ESCALATION, relay))


def red_alert(db: Database, patient_id: str, at: datetime) -> None:
    """An alert change: the alert and the notification it owes, in one transaction."""
    add_patient(db, patient_id, "Tess Ickle", actor="test", team="north")
    with db.session() as s:
        alert = apply_finding(
            s,
            patient_id=patient_id,
            rule_id="threshold.systolic",
            severity=Severity.RED,
            reading_id=f"{patient_id}-r1",
            summary="x",
            at=at,
        )
        assert alert is not None


def message_ids(mailbox: Mailbox) -> list[str]:
    return [str(message["Message-ID"]) for _, _, message in mailbox.messages]


def test_an_alert_change_is_e_mailed_exactly_once(pg: Database, tmp_path: Path) -> None:
    mailbox = Mailbox()
    now = utcnow()
    red_alert(pg, "p-once-1", now)
    with smtp_server(mailbox) as port:
        server = start_ticker(pg, port, tmp_path)
        first = server.ticker.tick(now)
        assert (first.relayed, first.sent) == (1, 1)
        for minutes in (1, 5, 60):  # nothing new: nothing sent again
            again = server.ticker.tick(now + timedelta(minutes=minutes))
            assert (again.relayed, again.sent, again.retrying) == (0, 0, 0)
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [[TEAM_ADDRESS]]
    stats = server.queue.stats(now + timedelta(hours=1))
    assert (stats.pending, stats.sent, stats.failed) == (0, 1, 0)


@pytest.mark.parametrize(
    "sent_before_dying", [False, True], ids=["died-before-sending", "died-after-sending"]
)
def test_a_ticker_killed_between_claiming_and_recording_loses_nothing(
    pg: Database, tmp_path: Path, sent_before_dying: bool
) -> None:
    """The first ticker claims the delivery (a lease) and dies before recording the outcome:
    before or after its e-mail left. The next ticker waits out the lease, then sends it: the
    team has the e-mail, at most twice, and both copies carry the same Message-ID."""
    mailbox = Mailbox()
    now = utcnow()
    red_alert(pg, "p-kill-1", now)
    with smtp_server(mailbox) as port:
        dying = start_ticker(pg, port, tmp_path)
        assert dying.relay.relay(now) == 1
        claimed = dying.queue.claim_next(now)
        assert claimed is not None and claimed.number == 1
        if sent_before_dying:
            dying.relay.dispatcher.notifiers[ChannelKind.EMAIL].send(claimed)
        # ... SIGKILL: neither mark_sent nor mark_failed_attempt happens. A new process starts.
        restarted_db = Database(pg.url)
        restarted = start_ticker(restarted_db, port, tmp_path)
        lease = timedelta(seconds=restarted.queue.policy.lease_s)
        during = restarted.ticker.tick(now + lease - timedelta(seconds=1))
        assert (during.sent, during.retrying, during.failed) == (0, 0, 0)  # the lease still holds
        assert during.queue is not None and (during.queue.pending, during.queue.due) == (1, 0)
        after = restarted.ticker.tick(now + lease)
        assert after.sent == 1
        assert restarted.ticker.tick(now + 2 * lease).sent == 0
        restarted_db.dispose()
    ids = message_ids(mailbox)
    assert len(ids) == (2 if sent_before_dying else 1)
    assert len(set(ids)) == 1  # one notification: a retried copy is recognisably the same
    [record] = restarted.queue.for_notification(claimed.delivery.notification.notification_id)
    assert (record.status, record.attempts) == (Status.SENT, 2)


def test_a_failing_channel_is_retried_then_given_up_on_and_visible(pg: Database, tmp_path: Path) -> None:
    mailbox = Mailbox(refuse={TEAM_ADDRESS: "451 4.3.0 Try again later"})
    now = utcnow()
    red_alert(pg, "p-fail-1", now)
    with smtp_server(mailbox) as port:
        server = start_ticker(pg, port, tmp_path)
        policy = server.queue.policy
        assert policy == RetryPolicy()  # what production runs: 8 tries, 30 s doubling to 15 min
        step = timedelta(seconds=policy.max_delay_s + 60)  # past any backoff
        results = [server.ticker.tick(now + i * step) for i in range(policy.max_attempts + 2)]
        assert [r.retrying for r in results] == [1] * (policy.max_attempts - 1) + [0, 0, 0]
        assert [r.failed for r in results] == [0] * (policy.max_attempts - 1) + [1, 0, 0]
        last = results[-1]
        assert last.queue is not None
        assert (last.queue.pending, last.queue.sent, last.queue.failed) == (0, 0, 1)
        assert last.failed_recently == 1
        [failed] = server.queue.list_failed()
        assert failed.attempts == policy.max_attempts
        assert failed.last_error is not None and failed.last_error.startswith(
            f"attempt {policy.max_attempts}: SMTP 451"
        )

        # /health, from the heartbeat the ticker writes after that tick.
        Heartbeat(pg, TICKER).beat(
            detail=ticker_detail(last, every_s=15, ticks=len(results), configured=True)
        )
        _, notifications = judge_ticker(latest(pg)[TICKER], utcnow(), HealthSettings())
        assert notifications.ok is False and notifications.failed_24h == 1
        assert notifications.detail == "1 delivery given up on in the last 24 h"

        # The relay is fixed; an operator requeues it: delivered once.
        mailbox.refuse.clear()
        later = now + len(results) * step
        assert server.queue.requeue(failed.delivery_id, later)
        assert server.ticker.tick(later).sent == 1
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [[TEAM_ADDRESS]]


def test_two_tickers_at_once_never_send_the_same_delivery_twice(pg: Database, tmp_path: Path) -> None:
    """Two ticker processes on one PostgreSQL database (two engines, two threads), starting
    the same tick at the same moment: every alert is routed by one of them and e-mailed once."""
    mailbox = Mailbox()
    now = utcnow()
    patients = [f"p-pair-{i:02d}" for i in range(24)]
    for patient_id in patients:
        red_alert(pg, patient_id, now)
    databases = [Database(pg.url) for _ in range(2)]
    with smtp_server(mailbox) as port:
        servers = [start_ticker(db, port, tmp_path) for db in databases]
        start = threading.Barrier(len(servers))
        relayed: Counter[int] = Counter()
        sent: Counter[int] = Counter()
        errors: list[BaseException] = []

        def run(index: int, server: Server) -> None:
            try:
                start.wait(10)
                for i in range(3):
                    r = server.ticker.tick(now + timedelta(seconds=i))
                    assert r.step_errors == {}, r.step_errors
                    relayed[index] += r.relayed
                    sent[index] += r.sent
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(servers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    for db in databases:
        db.dispose()
    assert errors == []
    assert sum(relayed.values()) == len(patients)  # each owed notification routed once
    assert sum(sent.values()) == len(patients)
    ids = message_ids(mailbox)
    assert len(ids) == len(set(ids)) == len(patients)
    stats = servers[0].queue.stats(now + timedelta(minutes=1))
    assert (stats.pending, stats.sent, stats.failed) == (0, len(patients), 0)


class Tally:
    """A notifier that counts every delivery it is asked to send, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sends: Counter[str] = Counter()

    def send(self, attempt: Attempt) -> str:
        with self.lock:
            self.sends[attempt.delivery.delivery_id] += 1
        return "ok"


def test_four_dispatchers_racing_over_many_deliveries_send_each_once(pg: Database) -> None:
    """The claim itself under pressure: four dispatchers, each with its own engine, drain two
    hundred due deliveries as fast as they can."""
    policy = RetryPolicy()
    deliveries = [
        d
        for i in range(200)
        for d in Dispatcher(DeliveryQueue(pg, policy), {}).notify(
            notification(notification_id=f"n-race-{i:03d}"),
            parse_routing_config(ROUTING),
            T0,
        )
    ]
    assert len(deliveries) == 200
    tally = Tally()
    databases = [Database(pg.url) for _ in range(4)]
    dispatchers = [Dispatcher(DeliveryQueue(db, policy), {ChannelKind.EMAIL: tally}) for db in databases]
    start = threading.Barrier(len(dispatchers))

    def drain(dispatcher: Dispatcher) -> None:
        start.wait(10)
        while dispatcher.run_once(T0, limit=5).sent:
            pass

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for db in databases:
        db.dispose()
    assert len(tally.sends) == 200 and set(tally.sends.values()) == {1}
    stats = DeliveryQueue(pg, policy).stats(T0)
    assert (stats.pending, stats.sent) == (0, 200)
