"""The readings store: writes and reads against InfluxDB, behind one small class (:class:`InfluxStore`).

What this module does is talk to the server: one HTTP connection pool, the two write paths
(``/write`` and influxdb-client's ``/api/v2/write``, chosen in ``version``), InfluxQL over
``/query``, and trying again. What the points look like (``schema``), what the queries say
(``influxql``), what a failure means (``errors``) and how it is configured (``config``) live
beside it, so that this file is only about the conversation.

A failed attempt that another might fix (a connection error, a timeout, 5xx, 429) is retried
through ``common.retry`` under the configuration's ``max_retries``/``backoff``/``backoff_max``,
with the server's ``Retry-After`` honoured; then it is :class:`StoreUnavailable`. Rewriting a
reading is always safe (see ``schema.point_time_ns``), which is why timeouts and partial
chunks are retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx
import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from common.retry import RetriesExhausted, Retry, RetryPolicy
from common.wire.vocabulary import ReadingKind
from server.store.breaker import CircuitBreaker, CircuitOpen
from server.store.influx.config import InfluxConfig
from server.store.influx.errors import (
    StoreUnavailable,
    Transient,
    classify,
    error_message,
    retry_after,
    retry_after_of,
    statement_error,
)
from server.store.influx.influxql import count_query, counted, quote_ident, readings_query, stored_readings
from server.store.influx.schema import ReadingRecord, StoredReading, reading_point
from server.store.influx.version import ApiPath, choose_api, version_of

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The share of each retry delay that is random, so that many writers do not retry in step.
_JITTER = 0.5


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
        self._retry_policy = RetryPolicy(
            first=config.backoff, cap=config.backoff_max, jitter=_JITTER, attempts=config.max_retries + 1
        )
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
        return r.status_code, version_of(r)

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
                        raise Transient(f"cannot reach {self.config.url}: {type(e).__name__}: {e}") from e
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
        """``attempt()``, retried on :class:`Transient` failures; then :class:`StoreUnavailable`."""
        retry = Retry(
            self._retry_policy,
            on=(Transient,),
            log=log,
            message=what.replace("%", "%%")
            + ": attempt %(attempt)d/%(attempts)d failed (%(error)s); retrying in %(delay).2fs",
            sleep=self._sleep,
            at_least=retry_after_of,
        )
        try:
            return retry.call(attempt)
        except RetriesExhausted as e:
            raise StoreUnavailable(f"{what}: gave up after {e.attempts} attempt(s): {e.last}") from e.last

    # raw HTTP

    def _request(
        self, method: str, path: str, params: dict[str, str], content: bytes | None = None
    ) -> httpx.Response:
        """One attempt; 2xx returned, everything else raised as what it means to the caller."""
        try:
            r = self._http.request(method, path, params=params, content=content)
        except httpx.TransportError as e:
            raise Transient(f"{type(e).__name__}: {e}") from e
        if r.is_success:
            return r
        raise classify(
            r.status_code, error_message(r.status_code, r.headers, r.content), retry_after(r.headers)
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
            raise statement_error(str(doc["error"]))
        series: list[dict[str, Any]] = []
        for result in doc.get("results", []):
            if result.get("error"):
                raise statement_error(str(result["error"]))
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
                    retries=False,  # our policy retries, with the same rules as v1
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
            message = error_message(status, e.headers, e.body)
            if status == 0:
                raise Transient(message) from e
            raise classify(status, message, retry_after(e.headers)) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise Transient(f"{type(e).__name__}: {e}") from e

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
        q = readings_query(patient_id, kind, since, until, limit, newest_first=newest_first)
        return stored_readings(self.influxql(q))

    def count_points(self, patient_id: str, kind: ReadingKind | None = None) -> int:
        """How many points (= distinct readings) a patient has, for tests and ops."""
        return counted(self.influxql(count_query(patient_id, kind)))
