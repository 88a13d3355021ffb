"""The readings store when InfluxDB fails, against the REAL InfluxDB 1.6.7: nothing listening,
5xx and 429 (retried, Retry-After honoured), data refused (not retried), a missing database,
secrets kept out of the logs, influxd killed. Split from test_influx.py, which keeps the
schema, the write paths and the reads.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from devstack.influxdb import LocalInfluxDB
from devstack.process import free_port
from server.store.influx.config import InfluxConfig
from server.store.influx.errors import StoreMisconfigured, StoreRejected, StoreUnavailable
from server.store.influx.schema import datetime_to_ns
from server.store.influx.store import InfluxStore
from tests.support.influx_store import T0, rec, store_for
from tests.support.influx_v2_proxy import InfluxV2Proxy
from tests.support.readings import make_reading

pytestmark = pytest.mark.services


@pytest.mark.parametrize("api", ["v1", "v2", "auto"])
def test_store_unavailable_when_nothing_listens(api: str) -> None:
    sleeps: list[float] = []
    cfg = InfluxConfig.model_validate(
        {"url": f"http://127.0.0.1:{free_port()}", "api": api, "max_retries": 2, "backoff": 0.01}
    )
    store = InfluxStore(cfg, sleep=sleeps.append)
    with pytest.raises(StoreUnavailable, match="gave up after 3 attempt"):
        store.write_readings([rec(make_reading())])
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01  # backoff * [0.5, 1) jitter
    assert 0.01 <= sleeps[1] <= 0.02  # doubled
    with pytest.raises(StoreUnavailable):
        store.query_readings("p-0001")
    assert store.ping()["reachable"] is False


@pytest.mark.parametrize("path", ["v1", "v2"])
def test_5xx_and_429_are_retried_with_backoff_then_stored(
    path: str, influxdb: LocalInfluxDB, influx_store: InfluxStore, influx_database: str
) -> None:
    sleeps: list[float] = []
    with InfluxV2Proxy(influxdb.url) as proxy:
        cfg = InfluxConfig.model_validate(
            {"url": proxy.url, "api": path, "database": influx_database, "max_retries": 3, "backoff": 0.01}
        )
        store = InfluxStore(cfg, sleep=sleeps.append)
        with proxy.failing(503, times=1):
            store.write_readings([rec(make_reading(taken_at=T0))])
        with proxy.failing(429, times=1, retry_after="7"):
            store.write_readings([rec(make_reading(taken_at=T0))])
        statuses = [r.status for r in proxy.requests]
    assert statuses == [503, 204, 429, 204]
    assert sleeps[1] == pytest.approx(7.0)  # Retry-After honoured (under backoff_max)
    assert influx_store.count_points("p-0001") == 2


def test_retries_exhausted_on_5xx_is_unavailable(influxdb: LocalInfluxDB, influx_database: str) -> None:
    with InfluxV2Proxy(influxdb.url) as proxy, proxy.failing(500, times=10):
        store = store_for(proxy.url, influx_database, api="v1", max_retries=2)
        with pytest.raises(StoreUnavailable):
            store.write_readings([rec(make_reading())])
        assert len(proxy.requests) == 3


@pytest.mark.parametrize("path", ["v1", "v2"])
def test_data_the_database_refuses_is_rejected_without_retry(
    path: str, influxdb: LocalInfluxDB, influx_store: InfluxStore, influx_database: str
) -> None:
    # Someone wrote systolic as a string in the same shard (field types are per shard in 1.x):
    # the database refuses our float with a field type conflict.
    httpx.post(
        f"{influxdb.url}/write",
        params={"db": influx_database},
        content=f'readings,patient_id=p-0001,kind=blood_pressure systolic="oops" {datetime_to_ns(T0)}'.encode(),
    ).raise_for_status()
    with InfluxV2Proxy(influxdb.url) as proxy:
        store = store_for(proxy.url, influx_database, api=path, max_retries=3)
        with pytest.raises(StoreRejected, match="field type conflict") as err:
            store.write_readings([rec(make_reading(taken_at=T0))])
        assert err.value.status == 400
        assert len(proxy.requests) == 1  # 4xx: not retried


def test_a_missing_database_is_misconfiguration_not_bad_data(influxdb: LocalInfluxDB) -> None:
    store = store_for(influxdb.url, "carewatch_missing_db", api="v1", max_retries=3)
    with pytest.raises(StoreMisconfigured, match="database not found"):
        store.write_readings([rec(make_reading())])
    with pytest.raises(StoreUnavailable):  # the caller's "do not ack, try later" branch
        store.query_readings("p-0001")


def test_writes_are_chunked_one_request_per_batch(
    influxdb: LocalInfluxDB, influx_store: InfluxStore, influx_database: str
) -> None:
    readings = [make_reading(taken_at=T0 + timedelta(seconds=i)) for i in range(250)]
    with InfluxV2Proxy(influxdb.url) as proxy:
        store = store_for(proxy.url, influx_database, api="v1", batch_size=100)
        assert store.write_readings(rec(r) for r in readings) == 250
        assert proxy.paths("POST") == ["/write"] * 3
    assert influx_store.count_points("p-0001") == 250


def test_ensure_database_is_idempotent(influx_store: InfluxStore) -> None:
    influx_store.ensure_database()
    influx_store.ensure_database()
    names = [v[0] for s in influx_store.influxql("SHOW DATABASES", database="") for v in s["values"]]
    assert names.count(influx_store.config.database) == 1


def test_secrets_never_reach_the_logs(
    influxdb: LocalInfluxDB,
    influx_v2_proxy: InfluxV2Proxy,
    influx_database: str,
    influx_store: InfluxStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    v1 = store_for(influxdb.url, influx_database, username="svc", password="pw-S3cret-v1")
    v1.write_readings([rec(make_reading())])
    v1.query_readings("p-0001")
    v2 = store_for(influx_v2_proxy.url, influx_database, token="tok-S3cret-v2", org="o")
    v2.write_readings([rec(make_reading())])
    down = store_for(f"http://127.0.0.1:{free_port()}", "x", token="tok-S3cret-down", max_retries=1)
    with pytest.raises(StoreUnavailable) as err:
        down.write_readings([rec(make_reading())])
    assert "S3cret" not in str(err.value)
    assert influx_store.count_points("p-0001") == 2
    assert caplog.records
    assert "S3cret" not in caplog.text
    assert any("using the v2 write path" in m.getMessage() for m in caplog.records)


def test_own_influxd_killed_gives_unavailable_and_data_survives_a_restart(tmp_path: Path) -> None:
    """Its own instance: the shared session server is never stopped by a test."""
    influx = LocalInfluxDB(tmp_path)
    influx.start()
    try:
        store = store_for(influx.url, "carewatch", api="v1", max_retries=1, backoff=0.01)
        store.ensure_database()
        before = make_reading(taken_at=T0)
        store.write_readings([rec(before)])
        influx.kill()
        with pytest.raises(StoreUnavailable):
            store.write_readings([rec(make_reading())])
        assert store.ping()["reachable"] is False
        influx.start()  # same ports, same directories
        assert [s.reading_id for s in store.query_readings("p-0001")] == [before.reading_id]  # from the WAL
        store.write_readings([rec(make_reading(taken_at=T0 + timedelta(seconds=1)), "p-0001")])
        assert store.count_points("p-0001") == 2
    finally:
        influx.stop()
