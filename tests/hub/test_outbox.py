"""The outbox is the hub's memory: what is in it survives a restart of the process."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_hub_config
from gateway.outbox import Outbox, OutboxUnavailable, ResendPolicy
from tests.support.readings import hub_weight

ROOT = Path(__file__).resolve().parents[2]


def test_readings_survive_reopening_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    readings = [hub_weight(70 + i / 10) for i in range(5)]
    for r in readings:
        box.put(r)
    box.record_failure([p.seq for p in box.due(2)], "broker down")
    box.close()  # the process dies here

    again = Outbox(path)
    pending = again.due(10)
    assert [p.reading for p in pending] == readings
    assert [p.attempts for p in pending] == [1, 1, 0, 0, 0]
    assert again.confirm([str(pending[0].reading.reading_id)]) == 1
    assert again.depth() == 4


def test_a_reading_the_broker_took_stays_until_the_servers_receipt(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite3", resend=ResendPolicy(first_s=60, max_s=240))
    a, b = hub_weight(70.0), hub_weight(70.5)
    box.put(a)
    box.put(b)
    t0 = 1_000_000.0
    box.mark_sent([p.seq for p in box.due(10, now=t0)], now=t0)
    assert box.due(10, now=t0 + 59) == []  # sent, waiting for the receipt
    backlog = box.backlog()
    assert (backlog.depth, backlog.awaiting_receipt) == (2, 2)
    assert box.confirm([str(a.reading_id)]) == 1
    # No receipt for b: due again after the first delay, then after twice that, capped.
    [again] = box.due(10, now=t0 + 60)
    assert again.reading == b
    box.mark_sent([again.seq], now=t0 + 60)
    assert box.due(10, now=t0 + 60 + 119) == []
    assert [p.reading for p in box.due(10, now=t0 + 60 + 120)] == [b]
    assert ResendPolicy(first_s=60, max_s=240).delay(10) == 240
    # A reconnection makes everything unconfirmed due at once (a restarted broker may have lost it).
    assert box.make_due_again(sent_before=t0 + 61) == 1
    assert [p.reading for p in box.due(10, now=t0 + 61)] == [b]
    assert box.confirm([str(b.reading_id), str(a.reading_id)]) == 1  # a's repeat receipt is harmless
    assert box.depth() == 0


def test_an_unreadable_row_is_quarantined_not_a_stop(tmp_path: Path) -> None:
    """One corrupt row once killed the publisher while the radio kept storing readings."""
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    good = [hub_weight(71.0), hub_weight(71.5)]
    box.put(good[0])
    raw = sqlite3.connect(path)
    raw.execute(
        "INSERT INTO outbox (reading_id, body, enqueued_at) VALUES ('bad', '{\"reading_id\": 1', '2026-01-01')"
    )
    raw.commit()
    raw.close()
    box.put(good[1])
    assert [p.reading for p in box.due(10)] == good
    assert box.backlog().quarantined == 1
    assert box.depth() == 2
    (reason, body) = sqlite3.connect(path).execute("SELECT reason, body FROM quarantine").fetchone()
    assert reason.startswith("invalid stored reading: ")
    assert body == b'{"reading_id": 1'


def test_an_unwritable_outbox_is_a_named_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        path = Path("/proc/carewatch-outbox.sqlite3")  # not writable even for root
    else:
        tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
        path = tmp_path / "outbox.sqlite3"
    with pytest.raises(OutboxUnavailable):
        Outbox(path)


def test_the_hub_config_template_is_valid() -> None:
    cfg = load_hub_config(ROOT / "firmware-config/hub/hub.toml.example")
    assert cfg.hub_id == "hub-0042"
    assert cfg.broker.port == 8883


def test_a_bad_hub_config_says_which_field(tmp_path: Path) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text('hub_id = "Hub 42"\n[broker]\nport = 99999\n')
    with pytest.raises(ConfigError, match=r"hub_id.*broker\.port|broker\.port.*hub_id") as e:
        load_hub_config(bad)
    assert "broker.ca_file: Field required" in str(e.value)


def test_a_row_that_is_not_utf8_is_quarantined_not_a_stop(tmp_path: Path) -> None:
    """A body that is not UTF-8 (a card's bit rot) failed the whole query, every time, so no
    reading behind it was ever sent."""
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    raw = sqlite3.connect(path)
    raw.execute(
        "INSERT INTO outbox (reading_id, body, enqueued_at) VALUES ('rot', CAST(X'7B22FF22' AS TEXT), '2026-01-01')"
    )
    raw.commit()
    raw.close()
    good = hub_weight(72.0)
    box.put(good)
    assert [p.reading for p in box.due(10)] == [good]
    (reason,) = sqlite3.connect(path).execute("SELECT reason FROM quarantine").fetchone()
    assert reason.startswith("stored reading is not UTF-8")
