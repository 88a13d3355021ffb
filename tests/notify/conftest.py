from __future__ import annotations

import pytest

from server.notifications.queue import DeliveryQueue, RetryPolicy
from server.store.database import Database

FAST = RetryPolicy(max_attempts=4, base_delay_s=10.0, max_delay_s=60.0, jitter=0.5, lease_s=30.0)


@pytest.fixture
def outbox(database: Database) -> DeliveryQueue:
    """The delivery queue on a migrated SQLite database of the test's own (the notifiers'
    tests; the queue's own tests run on PostgreSQL as well)."""
    return DeliveryQueue(database, FAST, rng=lambda: 0.5)
