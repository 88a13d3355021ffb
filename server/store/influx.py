"""Readings in InfluxDB, behind one small repository class (:class:`InfluxStore`).

Which InfluxDB
--------------
We must run against 1.x (what Debian ships, and what many clinics already have), 2.x and 3.x.
The two things all of them share are line protocol and InfluxQL over ``/query`` (native in
1.x and 3.x, the v1-compatibility API plus a DBRP mapping in 2.x). So:

* writes build ``influxdb_client.Point``\\ s once and send them either with influxdb-client's
  own ``write_api`` to ``/api/v2/write`` (1.8+, 2.x, 3.x) or, for 1.0-1.7 which lack that
  endpoint, as the very same line protocol POSTed to ``/write``;
* reads are InfluxQL only (never Flux, which exists only in 2.x).

``api="auto"`` asks ``GET /ping`` for ``X-Influxdb-Version`` once and picks ``v1`` below 1.8,
``v2`` otherwise (see :func:`choose_api`).

Names: ``database`` is the InfluxQL database every read uses, on every version (on 2.x it is
the database side of the DBRP mapping to the bucket). ``bucket`` is only for the v2 write
path and defaults to ``database`` (``database/retention_policy`` when an RP is set), which is
exactly what 1.8's and 3.x's ``/api/v2/write`` expect and, on 2.x, a bucket named like the
mapped database. Buckets and DBRP mappings on 2.x/3.x are provisioned by deploy scripts.

Schema (designed for years of sparse readings: a few points per patient per day)
-------------------------------------------------------------------------------
measurement ``readings``

tags (indexed; every distinct combination is a series, so only low-cardinality values):
  ``patient_id``, ``kind``, ``device_model``, ``hub_id``, ``time_source``.
  Series per patient are roughly kinds x devices, i.e. a handful. The reading id is
  deliberately NOT a tag: one series per reading would grow the index without bound.

fields:
  one float per measure, named by ``Measure`` (``systolic``, ``diastolic``, ``pulse``,
  ``spo2``, ``weight``, ``temperature``, ...); ``reading_id`` (string, the end-to-end
  idempotency key); ``flags`` (comma-joined string, ``""`` if none); ``received_at_ns``
  (int); ``measured_at_ns`` (int, omitted when the device gave no time or one InfluxDB cannot hold).

time:
  ``taken_at`` truncated to the millisecond plus a deterministic sub-millisecond offset
  derived from the reading id (:func:`point_time_ns`). ``taken_at`` itself is restored
  exactly on read from ``measured_at_ns``/``received_at_ns`` (the wire contract says which
  one it equals), so the offset never leaks into what callers see.

Field types never change (measures are always floats), so a 1.x "field type conflict" means
someone else wrote into our measurement. For very long retention on 1.x, deploy scripts
should give the retention policy a long shard-group duration (e.g. 52w) rather than the 7d
default, to keep the shard count low for sparse data.

Errors: :class:`StoreUnavailable` means "not stored, try again later" (the caller does not
ack the MQTT message); :class:`StoreRejected` means the database refused the data itself.
Rewriting a reading is always safe, which is why timeouts and partial chunks are retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

import httpx
import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from common.wire.messages import Reading, TimeSource
from common.wire.topics import valid_hub_id
from common.wire.vocabulary import Measure, ReadingKind
from server.patient_ids import check_patient_id
from server.store.breaker import CircuitBreaker, CircuitOpen

log = logging.getLogger(__name__)

MEASUREMENT = "readings"
# Patient ids are ours (the relational DB issues them), so they can be strict: this keeps
# them safe as tag values, in InfluxQL literals and in URLs even before any escaping.
_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_MEASURE_NAMES = frozenset(m.value for m in Measure)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_MS = 1_000_000
MAX_QUERY_LIMIT = 100_000

ApiPath = Literal["v1", "v2"]
T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of everything this module raises about the database (not about bad arguments)."""


class StoreUnavailable(StoreError):
    """Nothing (or not everything) was stored; try again later. Rewriting is idempotent."""


class StoreMisconfigured(StoreUnavailable):
    """The server answered but refuses us as configured (401/403, unknown database/bucket).

    A subclass of :class:`StoreUnavailable` on purpose: the readings are fine and must not be
    dead-lettered because of a wrong token; they will store once an operator fixes it.
    """


class StoreRejected(StoreError):
    """The database refused the data itself (bad line protocol, field type conflict, ...).

    On 1.x a rejected batch can be a *partial* write: valid points were stored.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Transient(Exception):
    """One attempt failed in a way worth retrying (connection error, timeout, 5xx, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- configuration --------------------------------------------------------------------------


class InfluxConfig(BaseModel):
    """Where and how to reach InfluxDB. Secrets are ``SecretStr`` so reprs and logs hide them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="base URL, e.g. http://127.0.0.1:8086")
    api: Literal["auto", "v1", "v2"] = Field(
        default="auto", description="write path; auto = detect from GET /ping (v1 below 1.8)"
    )
    database: str = Field(
        default="carewatch",
        pattern=_NAME_PATTERN,
        description="InfluxQL database for every read (and v1 writes); on 2.x the DBRP-mapped name",
    )
    retention_policy: str | None = Field(
        default=None, pattern=_NAME_PATTERN, description="None = the database's default RP"
    )
    username: str | None = Field(default=None, description="1.x basic auth")
    password: SecretStr | None = Field(default=None, description="1.x basic auth")
    token: SecretStr | None = Field(default=None, description="2.x/3.x API token")
    org: str | None = Field(
        default=None,
        description="2.x organisation (required there); None sends '-', which 1.8 and 3.x ignore",
    )
    bucket: str | None = Field(
        default=None,
        description="v2 write target; default: database, or database/retention_policy if an RP is set",
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(default=5, ge=0, description="extra attempts after the first")
    backoff: float = Field(default=0.5, ge=0, description="first retry delay in seconds, doubled each time")
    backoff_max: float = Field(default=30.0, ge=0, description="cap on one retry delay")
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="points per HTTP request")
    # Reads a person waits on (pages, API): see InfluxStore.for_people.
    people_timeout: float = Field(
        default=2.0, gt=0, description="seconds per HTTP request of a read a person waits on"
    )
    people_cooldown: float = Field(
        default=20.0,
        ge=0,
        description="after such a read fails, answer 'unavailable' at once for this long, then try one",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("url must be http(s)://host[:port]")
        return v.rstrip("/")

    def write_bucket(self) -> str:
        if self.bucket:
            return self.bucket
        return self.database if self.retention_policy is None else f"{self.database}/{self.retention_policy}"

    def v2_token(self) -> str | None:
        """The token influxdb-client sends; 1.8's v2 API takes ``username:password`` as a token."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.username is not None:
            pw = "" if self.password is None else self.password.get_secret_value()
            return f"{self.username}:{pw}"
        return None


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    """A validated wire reading plus who it belongs to (the server resolves the patient)."""

    patient_id: str
    hub_id: str
    reading: Reading

    def __post_init__(self) -> None:
        check_patient_id(self.patient_id)
        if not valid_hub_id(self.hub_id):
            raise ValueError(f"invalid hub id {self.hub_id!r}")


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading as read back from InfluxDB (the measurement keeps no raw bytes or device serial)."""

    reading_id: UUID
    patient_id: str
    kind: ReadingKind
    taken_at: datetime
    values: dict[Measure, float]
    flags: list[str]
    device_model: str
    hub_id: str
    time_source: TimeSource
    received_at: datetime
    measured_at: datetime | None = None


# --- time -----------------------------------------------------------------------------------

#: InfluxDB keeps a point's time as int64 nanoseconds since the epoch, that is
#: 1677-09-21T00:12:43.145224194Z .. 2262-04-11T23:47:16.854775806Z. A time outside cannot be
#: stored, and in a query it is an error (the constant under- or overflows int64). These are
#: the whole seconds just inside, so that a query's millisecond flooring and a point's
#: sub-millisecond offset (:func:`point_time_ns`) stay inside too. Every time the API or the
#: pages take from a person is checked against them (:func:`check_storable_time`).
EARLIEST_TIME = datetime(1677, 9, 21, 0, 12, 44, tzinfo=UTC)
LATEST_TIME = datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)


class TimeOutOfRange(ValueError):
    """A time InfluxDB cannot hold (or one without a UTC offset); refused before any request."""


def check_storable_time(dt: datetime) -> datetime:
    """``dt`` if InfluxDB can hold it; otherwise :class:`TimeOutOfRange` saying the range."""
    if dt.utcoffset() is None:
        raise TimeOutOfRange("must include a UTC offset, e.g. 2026-01-01T00:00:00Z")
    if not EARLIEST_TIME <= dt <= LATEST_TIME:
        raise TimeOutOfRange(
            f"must be between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}, "
            "the times the reading store can hold"
        )
    return dt


def datetime_to_ns(dt: datetime) -> int:
    """Exact integer ns (datetimes carry µs; going through float would lose some)."""
    if dt.utcoffset() is None:
        raise ValueError("naive datetime; timestamps must carry a UTC offset")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


def ns_to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _ms_floor_ns(ns: int) -> int:
    return ns // _NS_PER_MS * _NS_PER_MS


def reading_time_offset_ns(reading_id: UUID) -> int:
    """The reading's sub-millisecond offset, 0 ≤ offset < 1 ms, a pure function of its id."""
    return int.from_bytes(hashlib.sha256(reading_id.bytes).digest()[:8], "big") % _NS_PER_MS


def point_time_ns(reading: Reading) -> int:
    """The point's timestamp: ``taken_at`` to the millisecond plus an id-derived offset.

    InfluxDB identifies a point by measurement + tag set + timestamp and silently replaces
    the fields of an existing point. Device clocks tick in whole seconds, so two different
    readings of one patient and kind within the same second would otherwise share a
    timestamp and the second would erase the first. Spreading them by a hash of the reading
    id keeps them apart (a clash needs two readings in the same millisecond *and* the same
    offset, about 1 in 10^6 per such pair), while the same reading delivered twice (MQTT QoS 1
    redelivery, a hub retry) lands on the very same timestamp and overwrites itself: writes
    are idempotent, so retrying after a timeout is always safe. Keeping the offset below 1 ms
    means time-range queries are exact at millisecond resolution.
    """
    return _ms_floor_ns(datetime_to_ns(reading.taken_at)) + reading_time_offset_ns(reading.reading_id)


# --- line protocol / InfluxQL -------------------------------------------------------------


def reading_point(record: ReadingRecord) -> Point:
    r = record.reading
    p: Any = (  # influxdb_client's Point is unannotated
        cast(Any, Point)(MEASUREMENT)
        .tag("patient_id", record.patient_id)
        .tag("kind", r.kind.value)
        .tag("device_model", r.device.model)
        .tag("hub_id", record.hub_id)
        .tag("time_source", r.time_source.value)
    )
    for measure, quantity in r.values.items():
        p.field(measure.value, float(quantity.value))
    p.field("reading_id", str(r.reading_id))
    p.field("flags", ",".join(r.flags))
    p.field("received_at_ns", datetime_to_ns(r.received_at))
    # The device's own time is kept only if InfluxDB can hold it: a device clock reading 2300
    # is already why the hub stamped the reading with its own clock (and flagged it).
    if r.measured_at is not None and EARLIEST_TIME <= r.measured_at <= LATEST_TIME:
        p.field("measured_at_ns", datetime_to_ns(r.measured_at))
    point: Point = p.time(point_time_ns(r), WritePrecision.NS)
    return point


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal (backslash-escapes ``\\``, ``'`` and newlines)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "'" + escaped + "'"


def parse_version(version: str | None) -> tuple[int, int] | None:
    """``"1.6.7~rc0"``, ``"v2.7.4"``, ``"3.0.1"`` → (major, minor); None if not a version."""
    if not version:
        return None
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?", version)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def choose_api(version: str | None) -> tuple[ApiPath, str]:
    """The write path for a server version, and why (for the log)."""
    parsed = parse_version(version)
    if parsed is None:
        return "v2", f"server version {version!r} not recognised; assuming a current server (/api/v2/write)"
    if parsed < (1, 8):
        return "v1", f"server {version} predates 1.8 and has no /api/v2/write; using /write"
    return "v2", f"server {version} offers /api/v2/write"


def _error_message(status: int, headers: Mapping[str, str] | None, body: bytes | str | None) -> str:
    """The server's own words: 1.x ``X-Influxdb-Error``/``{"error"}``, 2.x/3.x ``{"message"}``."""
    if headers is not None:
        for k, v in headers.items():
            if k.lower() == "x-influxdb-error" and v:
                return f"HTTP {status}: {v}"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if isinstance(doc.get(key), str):
                return f"HTTP {status}: {doc[key]}"
    return f"HTTP {status}: {text.strip()[:500]}"


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except ValueError:
                return None
    return None


def _classify(status: int, message: str, retry_after: float | None) -> Exception:
    """What an HTTP error status means for the caller (see the module docstring)."""
    if status == 429 or status >= 500:
        return _Transient(message, retry_after)
    if status in (401, 403, 404):
        return StoreMisconfigured(message)
    return StoreRejected(message, status)


# --- the store ------------------------------------------------------------------------------


@dataclass
class _State:
    api: ApiPath | None = None
    version: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class InfluxStore:
    """Write and read readings; thread-safe, one HTTP connection pool per store."""

    def __init__(
        self,
        config: InfluxConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._breaker = breaker
        self._state = _State(api=None if config.api == "auto" else config.api)
        auth: httpx.BasicAuth | None = None
        headers: dict[str, str] = {}
        if config.token is not None:
            headers["Authorization"] = f"Token {config.token.get_secret_value()}"
        elif config.username is not None:
            pw = "" if config.password is None else config.password.get_secret_value()
            auth = httpx.BasicAuth(config.username, pw)  # a header, so never in a logged URL
        self._http = httpx.Client(
            base_url=config.url, timeout=httpx.Timeout(config.timeout), headers=headers, auth=auth
        )
        self._v2_client: InfluxDBClient | None = None
        self._v2_write: Any = None

    # lifecycle

    def for_people(self) -> InfluxStore:
        """The same database for reads a person waits on (pages, the API). Each request
        waits ``people_timeout`` (not ingest's ``timeout``), with one quick retry instead of
        ingest's patient backoff (a pooled connection InfluxDB closed on a restart fails
        once), so a hung InfluxDB costs about 2 x people_timeout, not 20 s. After a read
        fails, a circuit breaker answers :class:`StoreUnavailable` at once for
        ``people_cooldown`` seconds without touching the network, then lets one read probe:
        a hung store does not hold every page and worker thread for that long in turn."""
        cfg = self.config
        return InfluxStore(
            cfg.model_copy(
                update={"timeout": cfg.people_timeout, "max_retries": 1, "backoff": 0.2, "backoff_max": 0.5}
            ),
            sleep=self._sleep,
            breaker=CircuitBreaker("InfluxDB reads", cfg.people_cooldown),
        )

    def close(self) -> None:
        self._http.close()
        if self._v2_client is not None:
            cast(Any, self._v2_client).close()

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # server detection

    def _ping_once(self, timeout: float | None = None) -> tuple[int, str | None]:
        r = self._http.get("/ping", timeout=self.config.timeout if timeout is None else timeout)
        version = r.headers.get("X-Influxdb-Version")
        if version is None and r.status_code == 200:  # 3.x answers JSON
            try:
                doc = r.json()
                version = doc.get("version") if isinstance(doc, dict) else None
            except ValueError:
                version = None
        return r.status_code, version

    def resolve_api(self) -> ApiPath:
        """The write path in use; with ``api="auto"`` the first call asks the server."""
        state = self._state
        if state.api is not None:
            return state.api
        with state.lock:
            if state.api is None:

                def attempt() -> str | None:
                    try:
                        _, version = self._ping_once()
                    except httpx.TransportError as e:
                        raise _Transient(f"cannot reach {self.config.url}: {type(e).__name__}: {e}") from e
                    return version

                version = self._retrying("detect server version", attempt)
                api, why = choose_api(version)
                log.info("influxdb at %s: using the %s write path (%s)", self.config.url, api, why)
                state.version, state.api = version, api
            return state.api

    def ping(self) -> dict[str, object]:
        """One quick look for /health: never raises, never retries, waits at most 2 s."""
        try:
            status, version = self._ping_once(timeout=min(self.config.timeout, 2.0))
        except httpx.TransportError as e:
            return {
                "reachable": False,
                "error": type(e).__name__,
                "detail": f"{self.config.url}: {e}",
                "api": self._state.api,
            }
        api = self._state.api
        reason = "configured" if self.config.api != "auto" else "detected"
        if api is None:
            api, reason = choose_api(version)
        return {
            "reachable": status in (200, 204),
            "status": status,
            "version": version,
            "api": api,
            "api_reason": reason,
        }

    # retries

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        cfg = self.config
        for n in range(cfg.max_retries + 1):
            try:
                return attempt()
            except _Transient as e:
                if n == cfg.max_retries:
                    raise StoreUnavailable(f"{what}: gave up after {n + 1} attempt(s): {e}") from e
                delay = min(cfg.backoff_max, cfg.backoff * 2**n) * random.uniform(0.5, 1.0)
                if e.retry_after is not None:
                    delay = max(delay, min(cfg.backoff_max, e.retry_after))
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                    what,
                    n + 1,
                    cfg.max_retries + 1,
                    e,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # raw HTTP

    def _request(
        self, method: str, path: str, params: dict[str, str], content: bytes | None = None
    ) -> httpx.Response:
        """One attempt; 2xx returned, everything else raised as what it means to the caller."""
        try:
            r = self._http.request(method, path, params=params, content=content)
        except httpx.TransportError as e:
            raise _Transient(f"{type(e).__name__}: {e}") from e
        if r.is_success:
            return r
        raise _classify(
            r.status_code, _error_message(r.status_code, r.headers, r.content), _retry_after(r.headers)
        )

    def influxql(self, q: str, *, post: bool = False, database: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL over ``/query`` and return every series of every statement.

        ``post`` is for statements that change things (1.x refuses them over GET).
        """
        params = {"q": q, "epoch": "ns"}
        db = self.config.database if database is None else database
        if db:
            params["db"] = db
        if self.config.retention_policy is not None:
            params["rp"] = self.config.retention_policy

        def attempt() -> httpx.Response:
            return self._request("POST" if post else "GET", "/query", params)

        doc = self._guarded(lambda: self._retrying("influxql query", attempt)).json()
        if doc.get("error"):
            raise self._statement_error(str(doc["error"]))
        series: list[dict[str, Any]] = []
        for result in doc.get("results", []):
            if result.get("error"):
                raise self._statement_error(str(result["error"]))
            series.extend(result.get("series", []))
        return series

    def _guarded(self, read: Callable[[], T]) -> T:
        """``read`` through this store's circuit breaker, if it has one (see for_people)."""
        if self._breaker is None:
            return read()
        try:
            return self._breaker.call(read, trips_on=(StoreUnavailable,))
        except CircuitOpen as e:
            raise StoreUnavailable(str(e)) from None

    @staticmethod
    def _statement_error(message: str) -> StoreError:
        if message.startswith(("database not found", "retention policy not found")):
            return StoreMisconfigured(message)
        if "timeout" in message or "timed out" in message:
            # 1.x reports a query that ran out of time inside a 200: a busy database, not a
            # refusal of the data, so the caller waits and tries again.
            return StoreUnavailable(message)
        return StoreRejected(message)

    # writes

    def ensure_database(self) -> None:
        """v1: ``CREATE DATABASE`` (a no-op if it exists). v2: nothing.

        On 2.x/3.x the bucket and its DBRP mapping are provisioned by the deploy scripts, with
        an operator's token; the service's own write token should not be able to create them.
        """
        if self.resolve_api() == "v2":
            log.debug("influxdb: v2 server; bucket/DBRP provisioning is left to deploy scripts")
            return
        self.influxql(f"CREATE DATABASE {quote_ident(self.config.database)}", post=True, database="")

    def write_readings(self, records: Iterable[ReadingRecord]) -> int:
        """Store readings synchronously; returns the number of points the database acknowledged.

        One HTTP request per ``batch_size`` points. Raises :class:`StoreUnavailable` (retry the
        whole call later: earlier chunks may be stored, which is harmless) or
        :class:`StoreRejected`.
        """
        points = [reading_point(r) for r in records]
        if not points:
            return 0
        api = self.resolve_api()
        size = self.config.batch_size
        for start in range(0, len(points), size):
            chunk = points[start : start + size]
            if api == "v1":
                self._retrying("influxdb write (/write)", partial(self._write_v1, chunk))
            else:
                self._retrying("influxdb write (/api/v2/write)", partial(self._write_v2, chunk))
        log.debug("influxdb: wrote %d point(s) via %s", len(points), api)
        return len(points)

    def _write_v1(self, points: Sequence[Point]) -> None:
        body = "\n".join(cast(Any, p).to_line_protocol() for p in points).encode()
        params = {"db": self.config.database, "precision": "n"}
        if self.config.retention_policy is not None:
            params["rp"] = self.config.retention_policy
        self._request("POST", "/write", params, content=body)

    def _v2(self) -> Any:
        with self._state.lock:
            if self._v2_write is None:
                cfg = self.config
                self._v2_client = cast(Any, InfluxDBClient)(
                    url=cfg.url,
                    token=cfg.v2_token(),
                    org=cfg.org or "-",
                    timeout=int(cfg.timeout * 1000),
                    retries=False,  # our loop retries, with backoff and the same rules as v1
                )
                self._v2_write = self._v2_client.write_api(write_options=SYNCHRONOUS)
            return self._v2_write

    def _write_v2(self, points: Sequence[Point]) -> None:
        try:
            self._v2().write(
                bucket=self.config.write_bucket(),
                org=self.config.org or "-",
                record=list(points),
                write_precision=WritePrecision.NS,
            )
        except ApiException as e:
            status = int(e.status or 0)
            message = _error_message(status, e.headers, e.body)
            if status == 0:
                raise _Transient(message) from e
            raise _classify(status, message, _retry_after(e.headers)) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise _Transient(f"{type(e).__name__}: {e}") from e

    # reads

    def query_readings(
        self,
        patient_id: str,
        kind: ReadingKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        *,
        newest_first: bool = False,
    ) -> list[StoredReading]:
        """A patient's readings with ``since <= taken_at < until``, compared to the millisecond.

        Oldest first unless ``newest_first`` (then ``limit`` keeps the latest ones). A time
        InfluxDB cannot hold raises :class:`TimeOutOfRange` before any request.
        """
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_QUERY_LIMIT}")
        where = self._where(patient_id, kind)
        if since is not None:
            check_storable_time(since)
            where.append(f"time >= {_ms_floor_ns(datetime_to_ns(since))}")
        if until is not None:
            check_storable_time(until)
            where.append(f"time < {_ms_floor_ns(datetime_to_ns(until))}")
        q = (
            f"SELECT * FROM {quote_ident(MEASUREMENT)} WHERE {' AND '.join(where)} "  # noqa: S608 - quoted
            f"ORDER BY time {'DESC' if newest_first else 'ASC'} LIMIT {int(limit)}"
        )
        out: list[StoredReading] = []
        for s in self.influxql(q):
            columns: list[str] = s["columns"]
            for row in s["values"]:
                out.append(_stored_reading(dict(zip(columns, row, strict=True))))
        return out

    def count_points(self, patient_id: str, kind: ReadingKind | None = None) -> int:
        """How many points (= distinct readings) a patient has, for tests and ops."""
        where = self._where(patient_id, kind)
        # Every value below went through quote_ident/quote_string (and patient ids a strict pattern).
        q = f"SELECT COUNT({quote_ident('reading_id')}) FROM {quote_ident(MEASUREMENT)}"  # noqa: S608
        q += f" WHERE {' AND '.join(where)}"
        series = self.influxql(q)
        return sum(int(row[1]) for s in series for row in s["values"])

    @staticmethod
    def _where(patient_id: str, kind: ReadingKind | None) -> list[str]:
        where = [f"{quote_ident('patient_id')} = {quote_string(check_patient_id(patient_id))}"]
        if kind is not None:
            where.append(f"{quote_ident('kind')} = {quote_string(ReadingKind(kind).value)}")
        return where


def _stored_reading(row: dict[str, Any]) -> StoredReading:
    reading_id = UUID(row["reading_id"])
    time_source = TimeSource(row["time_source"])
    received_ns = int(row["received_at_ns"])
    measured_ns = None if row.get("measured_at_ns") is None else int(row["measured_at_ns"])
    base_ns = int(row["time"]) - reading_time_offset_ns(reading_id)  # taken_at to the ms
    exact_ns = measured_ns if time_source is TimeSource.DEVICE else received_ns
    taken_ns = exact_ns if exact_ns is not None and _ms_floor_ns(exact_ns) == base_ns else base_ns
    flags = row.get("flags") or ""
    return StoredReading(
        reading_id=reading_id,
        patient_id=row["patient_id"],
        kind=ReadingKind(row["kind"]),
        taken_at=ns_to_datetime(taken_ns),
        values={Measure(k): float(v) for k, v in row.items() if k in _MEASURE_NAMES and v is not None},
        flags=flags.split(",") if flags else [],
        device_model=row["device_model"],
        hub_id=row["hub_id"],
        time_source=time_source,
        received_at=ns_to_datetime(received_ns),
        measured_at=None if measured_ns is None else ns_to_datetime(measured_ns),
    )
