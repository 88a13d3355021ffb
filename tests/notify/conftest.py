from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.notify.outbox import Outbox, RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay_s=10.0, max_delay_s=60.0, jitter=0.5, lease_s=30.0)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "notify-outbox.sqlite3", FAST, rng=lambda: 0.5)
    yield box
    box.close()
