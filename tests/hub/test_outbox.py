"""The outbox is the hub's memory: what is in it survives a restart of the process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_hub_config
from gateway.outbox import Outbox, OutboxUnavailable
from tests.support.readings import hub_weight

ROOT = Path(__file__).resolve().parents[2]


def test_readings_survive_reopening_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    readings = [hub_weight(70 + i / 10) for i in range(5)]
    for r in readings:
        box.put(r)
    box.record_failure([p.seq for p in box.oldest(2)], "broker down")
    box.close()  # the process dies here

    again = Outbox(path)
    pending = again.oldest(10)
    assert [p.reading for p in pending] == readings
    assert [p.attempts for p in pending] == [1, 1, 0, 0, 0]
    again.remove([pending[0].seq])
    assert again.depth() == 4


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
