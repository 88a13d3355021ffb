"""What a failure of InfluxDB means to the caller, decided in one place.

The ingest acts on these and nothing else: :class:`StoreUnavailable` means "not stored, try
again later" (the caller does not acknowledge the MQTT message); :class:`StoreRejected`
means the database refused the data itself (the readings become dead letters). So the
mapping from what the server answered (an HTTP status, its own error words, an error inside
a 200) to these classes lives here, beside them, and not spread over the write and read
paths. :class:`Transient` is the store's own "this attempt failed, another may not"; it
never leaves the store (retries exhausted become :class:`StoreUnavailable`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping


class StoreError(Exception):
    """Base of everything the store raises about the database (not about bad arguments)."""


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


class Transient(Exception):
    """One attempt failed in a way worth retrying (connection error, timeout, 5xx, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_of(error: BaseException) -> float | None:
    """The delay the server asked for (``Retry-After``), if this failure carries one."""
    return error.retry_after if isinstance(error, Transient) else None


def classify(status: int, message: str, retry_after: float | None) -> Exception:
    """What an HTTP error status means for the caller (see the module docstring)."""
    if status == 429 or status >= 500:
        return Transient(message, retry_after)
    if status in (401, 403, 404):
        return StoreMisconfigured(message)
    return StoreRejected(message, status)


def statement_error(message: str) -> StoreError:
    """What an InfluxQL error (reported inside a 200 answer) means for the caller."""
    if message.startswith(("database not found", "retention policy not found")):
        return StoreMisconfigured(message)
    if "timeout" in message or "timed out" in message:
        # 1.x reports a query that ran out of time inside a 200: a busy database, not a
        # refusal of the data, so the caller waits and tries again.
        return StoreUnavailable(message)
    return StoreRejected(message)


def error_message(status: int, headers: Mapping[str, str] | None, body: bytes | str | None) -> str:
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


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` in seconds (never negative), or None if absent or not a number."""
    if headers is None:
        return None
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except ValueError:
                return None
    return None
