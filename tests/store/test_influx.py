"""The readings store against the REAL InfluxDB 1.6.7 (session instance, one database per test).

The v2 write path is exercised through tests/support/influx_v2_proxy.py, a test-only proxy that
rewrites /api/v2/write to /write, because no InfluxDB 2.x/3.x can be installed here; what it
stores is read back from the real database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast
from uuid import UUID

import httpx
import pytest

from common.wire.messages import Reading, TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from devstack.influxdb import LocalInfluxDB
from server.patient_ids import InvalidPatientId
from server.store.influx.config import InfluxConfig
from server.store.influx.influxql import quote_string
from server.store.influx.schema import (
    ReadingRecord,
    StoredReading,
    datetime_to_ns,
    point_time_ns,
    reading_point,
)
from server.store.influx.store import InfluxStore
from server.store.influx.version import choose_api
from tests.support.influx_store import HUB, T0, rec, store_for
from tests.support.influx_v2_proxy import InfluxV2Proxy
from tests.support.readings import make_reading

pytestmark = pytest.mark.services


def expected(reading: Reading, patient_id: str = "p-0001", hub_id: str = HUB) -> StoredReading:
    return StoredReading(
        reading_id=reading.reading_id,
        patient_id=patient_id,
        kind=reading.kind,
        taken_at=reading.taken_at,
        values={m: q.value for m, q in reading.values.items()},
        flags=list(reading.flags),
        device_model=reading.device.model,
        hub_id=hub_id,
        time_source=reading.time_source,
        received_at=reading.received_at,
        measured_at=reading.measured_at,
    )


# --- pure functions -----------------------------------------------------------------------------


def test_point_time_is_deterministic_and_stays_inside_the_millisecond() -> None:
    r = make_reading(taken_at=T0 + timedelta(microseconds=123_456))
    ts = point_time_ns(r)
    assert ts == point_time_ns(r.model_copy())  # same reading -> same timestamp
    base = datetime_to_ns(T0) + 123_000_000  # taken_at truncated to the millisecond
    assert base <= ts < base + 1_000_000


def test_point_time_separates_different_readings_taken_in_the_same_second() -> None:
    # Fixed ids: with random ones two of 200 readings share an offset ~2% of the time (birthday
    # bound, 10^6 offsets); real clashes need the same patient, kind AND millisecond.
    times = {point_time_ns(make_reading(taken_at=T0, reading_id=UUID(int=i))) for i in range(200)}
    assert len(times) == 200
    assert all(datetime_to_ns(T0) <= t < datetime_to_ns(T0) + 1_000_000 for t in times)


def test_line_protocol_follows_the_schema() -> None:
    r = make_reading(
        ReadingKind.BLOOD_PRESSURE,
        {Measure.SYSTOLIC: 141.5, Measure.DIASTOLIC: 92},
        T0,
        flags=["irregular_pulse", "cuff_loose"],
    )
    line: str = cast(Any, reading_point(rec(r))).to_line_protocol()
    series, fields, ts = line.split(" ")
    assert series == (
        "readings,device_model=sim-bp,hub_id=hub-test-01,kind=blood_pressure,patient_id=p-0001,time_source=device"
    )
    assert str(r.reading_id) not in series  # never a tag: unbounded cardinality
    assert fields.startswith("diastolic=92,")  # whole floats lose ".0" but stay floats (no "i")
    assert f'reading_id="{r.reading_id}"' in fields
    assert 'flags="irregular_pulse,cuff_loose"' in fields
    assert f"measured_at_ns={datetime_to_ns(T0)}i" in fields
    assert "systolic=141.5" in fields
    assert int(ts) == point_time_ns(r)


@pytest.mark.parametrize(
    ("version", "api"),
    [
        ("1.6.7~rc0", "v1"),
        ("1.7.11", "v1"),
        ("1.8.10", "v2"),
        ("v2.7.4", "v2"),
        ("2.7.4", "v2"),
        ("3.0.1", "v2"),
        ("3.x", "v2"),
        (None, "v2"),
    ],
)
def test_choose_api(version: str | None, api: str) -> None:
    assert choose_api(version)[0] == api


def test_influxql_string_literals_are_escaped() -> None:
    assert quote_string("a'b\\c\nd") == "'a\\'b\\\\c\\nd'"


@pytest.mark.parametrize(
    "bad", ["", "p 1", "p'1", "p\\", "x' OR '1'='1", "p,1", 'p"1', "-p", "p\n1", "p" * 65]
)
def test_bad_patient_ids_are_refused_before_any_io(bad: str) -> None:
    with pytest.raises(InvalidPatientId):
        ReadingRecord(patient_id=bad, hub_id=HUB, reading=make_reading())
    store = store_for("http://127.0.0.1:9", "x", max_retries=0)  # nothing listens: must not get there
    with pytest.raises(InvalidPatientId):
        store.query_readings(bad, None, None, None)
    with pytest.raises(InvalidPatientId):
        store.count_points(bad)


def test_config_hides_secrets() -> None:
    cfg = InfluxConfig(url="http://x:1", username="u", password="pw-secret-1", token="tok-secret-2")
    assert "pw-secret-1" not in repr(cfg)
    assert "tok-secret-2" not in repr(cfg)
    assert cfg.write_bucket() == "carewatch"
    assert InfluxConfig(url="http://x:1", retention_policy="raw").write_bucket() == "carewatch/raw"


# --- the local influxd ----------------------------------------------------------------------


def test_local_influxdb_keeps_everything_under_its_state_dir(influxdb: LocalInfluxDB) -> None:
    conf = influxdb.conf.read_text()
    assert influxdb.conf.is_relative_to(influxdb.state_dir / "influxdb")
    for key in ("meta", "data", "wal"):
        assert (influxdb.state_dir / "influxdb" / key).is_dir()
    assert f'bind-address = "127.0.0.1:{influxdb.rpc_port}"' in conf
    assert f'bind-address = "127.0.0.1:{influxdb.port}"' in conf
    assert "reporting-enabled = false" in conf
    assert "store-enabled = false" in conf
    assert "query-log-enabled = false" in conf
    r = httpx.get(f"{influxdb.url}/ping")
    assert r.status_code == 204
    assert r.headers["X-Influxdb-Version"].startswith("1.6")
    assert (influxdb.state_dir / "logs" / "influxdb.log").stat().st_size > 0


# --- writes and reads against the real database ------------------------------------------------


def test_v1_write_stores_exact_tags_fields_and_time(influx_store: InfluxStore) -> None:
    r = make_reading(
        ReadingKind.BLOOD_PRESSURE,
        {Measure.SYSTOLIC: 141.5, Measure.DIASTOLIC: 92.0, Measure.PULSE: 77.0},
        T0,
        flags=["irregular_pulse"],
        received_at=T0 + timedelta(seconds=3, microseconds=250_001),
    )
    assert influx_store.write_readings([rec(r)]) == 1
    [series] = influx_store.influxql("SELECT * FROM readings")
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row == {
        "time": point_time_ns(r),
        "patient_id": "p-0001",
        "kind": "blood_pressure",
        "device_model": "sim-bp",
        "hub_id": HUB,
        "time_source": "device",
        "systolic": 141.5,
        "diastolic": 92,
        "pulse": 77,
        "reading_id": str(r.reading_id),
        "flags": "irregular_pulse",
        "received_at_ns": datetime_to_ns(r.received_at),
        "measured_at_ns": datetime_to_ns(T0),
    }
    tag_keys = {v[0] for s in influx_store.influxql("SHOW TAG KEYS FROM readings") for v in s["values"]}
    assert tag_keys == {"patient_id", "kind", "device_model", "hub_id", "time_source"}
    field_types = {
        v[0]: v[1] for s in influx_store.influxql("SHOW FIELD KEYS FROM readings") for v in s["values"]
    }
    assert field_types == {
        "reading_id": "string",
        "flags": "string",
        "received_at_ns": "integer",
        "measured_at_ns": "integer",
        "systolic": "float",
        "diastolic": "float",
        "pulse": "float",
    }


def test_query_readings_round_trips_every_field(influx_store: InfluxStore) -> None:
    device = make_reading(
        ReadingKind.SPO2, {Measure.SPO2: 93.0, Measure.PULSE: 101.0}, T0, flags=["low_perfusion"]
    )
    hub_time = T0 + timedelta(minutes=5, microseconds=654_321)  # hub clocks have µs
    hub = make_reading(ReadingKind.WEIGHT, {Measure.WEIGHT: 81.35}, hub_time, time_source=TimeSource.HUB)
    influx_store.write_readings([rec(device), rec(hub)])
    got = influx_store.query_readings("p-0001", None, None, None)
    assert got == [expected(device), expected(hub)]
    assert got[1].taken_at == hub_time
    assert got[1].measured_at is None


def test_v2_write_path_through_the_proxy_stores_into_the_real_database(
    influx_store: InfluxStore, influx_v2_proxy: InfluxV2Proxy, influx_database: str
) -> None:
    writer = store_for(influx_v2_proxy.url, influx_database, api="v2", token="test-token", org="carewatch")
    readings = [
        make_reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 150.0, Measure.DIASTOLIC: 95.0}, T0),
        make_reading(ReadingKind.TEMPERATURE, {Measure.TEMPERATURE: 38.4}, T0, flags=["from_storage"]),
    ]
    assert writer.write_readings([rec(r, "p-v2") for r in readings]) == 2
    writer.close()
    assert influx_v2_proxy.paths("POST") == ["/api/v2/write"]  # really the influxdb-client v2 path
    got = influx_store.query_readings("p-v2", None, None, None)  # straight from 1.6.7, no proxy
    assert sorted(got, key=lambda s: s.kind) == sorted(
        (expected(r, "p-v2") for r in readings), key=lambda s: s.kind
    )


def test_auto_picks_v1_against_influxdb_1_6(influxdb: LocalInfluxDB, influx_store: InfluxStore) -> None:
    store = store_for(influxdb.url, influx_store.config.database)
    assert store.resolve_api() == "v1"
    store.write_readings([rec(make_reading(taken_at=T0))])
    assert influx_store.count_points("p-0001") == 1
    assert store.ping() == {
        "reachable": True,
        "status": 204,
        "version": "1.6.7~rc0",
        "api": "v1",
        "api_reason": "detected",
    }


def test_auto_picks_v2_against_a_server_saying_2_7_4(
    influx_v2_proxy: InfluxV2Proxy, influx_store: InfluxStore, influx_database: str
) -> None:
    store = store_for(influx_v2_proxy.url, influx_database, token="t", org="o")
    assert store.resolve_api() == "v2"
    store.write_readings([rec(make_reading(taken_at=T0))])
    assert "/api/v2/write" in influx_v2_proxy.paths("POST")
    assert influx_store.count_points("p-0001") == 1


def test_auto_through_a_proxy_that_keeps_the_version_still_picks_v1(influxdb: LocalInfluxDB) -> None:
    with InfluxV2Proxy(influxdb.url) as proxy:
        assert store_for(proxy.url, "x").resolve_api() == "v1"


@pytest.mark.parametrize("path", ["v1", "v2"])
def test_the_same_reading_twice_is_one_point_and_two_readings_in_one_second_are_two(
    path: str, influx_store: InfluxStore, influx_v2_proxy: InfluxV2Proxy, influx_database: str
) -> None:
    writer = influx_store if path == "v1" else store_for(influx_v2_proxy.url, influx_database, api="v2")
    first = make_reading(ReadingKind.PULSE, {Measure.PULSE: 61.0}, T0)
    writer.write_readings([rec(first)])
    writer.write_readings([rec(first), rec(first)])  # redelivery, and a duplicate inside one batch
    assert influx_store.count_points("p-0001", ReadingKind.PULSE) == 1
    second = make_reading(ReadingKind.PULSE, {Measure.PULSE: 64.0}, T0)  # same patient, kind, second
    writer.write_readings([rec(second)])
    assert influx_store.count_points("p-0001", ReadingKind.PULSE) == 2
    got = {
        s.reading_id: s.values[Measure.PULSE]
        for s in influx_store.query_readings("p-0001", ReadingKind.PULSE)
    }
    assert got == {first.reading_id: 61.0, second.reading_id: 64.0}


def test_filters_by_patient_kind_since_until_and_limit(influx_store: InfluxStore) -> None:
    bp = [make_reading(ReadingKind.BLOOD_PRESSURE, taken_at=T0 + timedelta(hours=h)) for h in range(5)]
    temp = make_reading(ReadingKind.TEMPERATURE, taken_at=T0 + timedelta(hours=2))
    other = make_reading(ReadingKind.BLOOD_PRESSURE, taken_at=T0 + timedelta(hours=2))
    influx_store.write_readings([*(rec(r) for r in bp), rec(temp), rec(other, "p-0002")])

    def ids(got: list[StoredReading]) -> list[UUID]:
        return [s.reading_id for s in got]

    bp_ids = [r.reading_id for r in bp]
    assert ids(influx_store.query_readings("p-0001", ReadingKind.BLOOD_PRESSURE)) == bp_ids
    assert ids(influx_store.query_readings("p-0001", ReadingKind.TEMPERATURE)) == [temp.reading_id]
    assert ids(influx_store.query_readings("p-0002")) == [other.reading_id]
    # since is inclusive, until exclusive (at millisecond resolution, whatever the offsets)
    window = influx_store.query_readings(
        "p-0001", ReadingKind.BLOOD_PRESSURE, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)
    )
    assert ids(window) == bp_ids[1:3]
    assert ids(influx_store.query_readings("p-0001", since=T0 + timedelta(hours=4))) == bp_ids[4:]
    assert ids(influx_store.query_readings("p-0001", ReadingKind.BLOOD_PRESSURE, limit=2)) == bp_ids[:2]
    latest = influx_store.query_readings("p-0001", ReadingKind.BLOOD_PRESSURE, limit=2, newest_first=True)
    assert ids(latest) == bp_ids[:2:-1][:2]
    assert influx_store.count_points("p-0001") == 6
    assert influx_store.query_readings("p-9999") == []


def test_injection_in_patient_id_is_refused_and_leaks_nothing(influx_store: InfluxStore) -> None:
    influx_store.write_readings([rec(make_reading(taken_at=T0), "p-0001")])
    for attempt in ["x' OR patient_id =~ /.*/ OR '1'='1", "p-0001' OR '1'='1", "p-0001\\"]:
        with pytest.raises(InvalidPatientId):
            influx_store.query_readings(attempt)
    # Even a literal that got past validation is inert once quoted: it matches nothing.
    literal = quote_string("x' OR '1'='1")
    q = f"SELECT COUNT(reading_id) FROM readings WHERE patient_id = {literal}"  # noqa: S608
    assert influx_store.influxql(q) == []
    assert influx_store.count_points("p-0001") == 1


def test_reading_records_refuse_bad_hub_ids() -> None:
    with pytest.raises(ValueError, match="hub id"):
        ReadingRecord(patient_id="p-1", hub_id="Bad Hub", reading=make_reading())


def test_make_reading_is_valid_for_every_kind() -> None:
    for kind in ReadingKind:
        for source in TimeSource:
            r = make_reading(kind, time_source=source)
            assert r.kind is kind
            assert r.time_source is source
    assert make_reading().reading_id != make_reading().reading_id
