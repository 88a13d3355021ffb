"""since/until outside the times InfluxDB can hold are refused with a 422 that says the
range, never a 500 from the database's own refusal; the bounds themselves still work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from common.wire.vocabulary import Measure, ReadingKind
from devstack.process import free_port
from server.store.influx.config import InfluxConfig
from server.store.influx.schema import EARLIEST_TIME, LATEST_TIME, TimeOutOfRange
from server.store.influx.store import InfluxStore
from tests.fixtures.server import Stack

RANGE = "must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z, the times the reading store can hold"
OUTSIDE = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1677-09-21T00:12:43Z",  # before InfluxDB's first nanosecond, 00:12:43.145224194
    "1677-09-21T00:12:43.146Z",  # inside it, but its millisecond is not
    "2262-04-11T23:47:17Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
]


def test_times_influxdb_cannot_hold_are_refused_with_the_range(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-times-1", "hub-times-1")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 122, Measure.DIASTOLIC: 78})
    stack.wait_processed(1)
    client = TestClient(stack.api.app, raise_server_exceptions=False)
    url = "/api/v1/patients/p-times-1/readings"
    for name in ("since", "until"):
        for t in OUTSIDE:
            r = client.get(url, params={name: t}, headers=stack.auth())
            assert r.status_code == 422, (name, t, r.text)
            [error] = r.json()["detail"]
            assert error["loc"] == ["query", name]
            assert RANGE in error["msg"]
        naive = client.get(url, params={name: "2026-01-01T00:00:00"}, headers=stack.auth())
        assert naive.status_code == 422
        assert "must include a UTC offset" in naive.json()["detail"][0]["msg"]
    # The bounds themselves are times InfluxDB answers for.
    inside = client.get(
        url,
        params={"since": EARLIEST_TIME.isoformat(), "until": LATEST_TIME.isoformat()},
        headers=stack.auth(),
    )
    assert inside.status_code == 200, inside.text
    assert [r["values"]["systolic"] for r in inside.json()] == [122.0]
    assert stack.influx.query_readings("p-times-1", since=EARLIEST_TIME, until=LATEST_TIME) != []


def test_the_store_refuses_such_times_before_any_request() -> None:
    """The store points at a port nobody listens on: the refusal is TimeOutOfRange, not
    StoreUnavailable, so no request was made."""
    with InfluxStore(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", api="v1", max_retries=0)) as store:
        for since in (datetime(1, 1, 1, tzinfo=UTC), datetime(2262, 4, 11, 23, 47, 17, tzinfo=UTC)):
            with pytest.raises(TimeOutOfRange, match="must be between"):
                store.query_readings("p-1", since=since)
            with pytest.raises(TimeOutOfRange, match="must be between"):
                store.query_readings("p-1", until=since)
        with pytest.raises(TimeOutOfRange, match="UTC offset"):
            store.query_readings("p-1", since=datetime(2026, 1, 1))  # naive on purpose
