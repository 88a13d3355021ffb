"""A hub's disk full for ten minutes, then freed: nothing lost, nothing doubled, the journal
does not grow back into the freed space. The scenario itself is in ``disk_full.py``; it
starts when the session does and this test, run last, collects it."""

from __future__ import annotations

import pytest

from tests.faults.disk_full import FULL_FOR_S, DiskFullRun


@pytest.mark.starts_early("disk_full_scenario")
@pytest.mark.timeout(FULL_FOR_S + 900)  # it may still be running when its turn comes
@pytest.mark.run_last
def test_a_hub_disk_full_for_ten_minutes_then_freed_loses_nothing(disk_full_scenario: DiskFullRun) -> None:
    counts = disk_full_scenario.wait()
    counts.assert_kept_promise()
    facts = disk_full_scenario.facts
    assert facts["taken while full"] > 0  # readings kept coming while nothing could be stored
    assert facts["rescued at the restart"] > 0  # held in memory, rescued, and (counts) not lost
    assert facts["WAL bytes after"] <= 1 << 20  # the journal cut back, not refilling the disk
    assert facts["disk free bytes after"] > 1 << 20
