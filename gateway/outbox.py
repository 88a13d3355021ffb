"""The hub's durable outbox: a reading is on disk before anything else happens to it, and
leaves only when the *server* says it holds it.

The broker's PUBACK is only a transport step: a broker that crashes before its next autosave,
or loses a session, can drop a message it acknowledged. So a row is marked *sent* when the
broker takes it, and deleted only when a ``ReadingReceipt`` from the ingest names its reading
(stored, already stored, or refused and kept as a dead letter: in every case the server has
it). What stays unconfirmed is sent again: after every reconnection, and on a timer that
backs off per row. Power cuts, broker outages, lost sessions and weeks offline therefore
lose nothing: the SQLite file (WAL, ``synchronous=FULL``) is the queue. Delivery is
at-least-once; the server deduplicates on ``reading_id``.

A row that cannot be read back (a corrupt body) is moved to ``quarantine`` with the reason
instead of stopping the publisher: one bad row must not hold back every reading behind it.

A packet the hub could not decode (``UndecodedPacket``) is kept here too, with the same
guarantees: a row of its own (``what = 'undecoded'``, its ``packet_id`` in ``reading_id``), sent
in batches of its own and forgotten only on a receipt naming it. The patient pressed the button;
the reading it may hold is not dropped because the hub's decoder refused it.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

from pydantic import ValidationError

from common.wire.messages import Reading, printable_line, summarise_validation
from common.wire.undecoded import UndecodedPacket

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id   TEXT NOT NULL UNIQUE,
    body         TEXT NOT NULL,
    enqueued_at  TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE TABLE IF NOT EXISTS quarantine (
    seq             INTEGER PRIMARY KEY,
    reading_id      TEXT,
    body            BLOB NOT NULL,
    reason          TEXT NOT NULL,
    quarantined_at  TEXT NOT NULL
);
"""
# Added after the first release; an existing hub's file gains them on start-up.
_ADDED_COLUMNS = (
    ("sends", "INTEGER NOT NULL DEFAULT 0"),  # publishes the broker took
    ("sent_at", "REAL"),  # when the last of them was (unix time); NULL: never sent
    ("due_at", "REAL NOT NULL DEFAULT 0"),  # when to (re)send it if no receipt came
    ("what", "TEXT NOT NULL DEFAULT 'reading'"),  # 'reading', or 'undecoded' (a packet kept as it came)
)
#: What to send next, found without reading the rows in front of it. Ordered by ``seq`` alone,
#: each batch scanned past every row awaiting a receipt (they hold the oldest seqs): 34 ms a
#: batch with 45,000 of them, most of a 50,000-reading replay. Created on start-up, after the
#: added columns, so an older hub's file gains it too.
_DUE_INDEX = "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at, seq)"
#: The same, per kind of row: readings and undecoded packets go in batches of their own, and
#: looking for the few packets due must not scan a replay's thousands of readings due.
_DUE_WHAT_INDEX = "CREATE INDEX IF NOT EXISTS outbox_due_what ON outbox (what, due_at, seq)"
_T = TypeVar("_T", Reading, UndecodedPacket)
_READING: Final = "reading"
_UNDECODED: Final = "undecoded"
#: The write-ahead log is checkpointed every 64 pages (256 KiB, not SQLite's 4 MiB) and cut
#: back to this size afterwards. On a small, nearly full card the default let the journal
#: grow back into the space a technician had just freed, until every write (even the
#: deletes that free rows) failed again: the outbox locked itself.
_WAL_AUTOCHECKPOINT_PAGES = 64
_JOURNAL_SIZE_LIMIT = 512 * 1024


class OutboxUnavailable(RuntimeError):
    """The outbox file cannot be written (disk full, read-only, corrupt): readings are at risk."""


def _for_want_of_space(e: BaseException | None) -> bool:
    """SQLite says a full disk as "database or disk is full", or, when it cannot even create
    its shared-memory file, "disk I/O error"; the OS as ENOSPC."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return True
    text = str(e)
    return "disk is full" in text or "disk I/O error" in text


@dataclass(frozen=True, slots=True)
class ResendPolicy:
    """When a reading the broker took but the server has not confirmed is sent again.

    The ingest answers in milliseconds; silence for a minute means the copy was lost (a
    broker crash) or the ingest is down. Each further resend waits twice as long, up to half
    an hour, so a long ingest outage queues a few dozen copies per hub at the broker, not
    thousands; a reconnection makes everything due at once (a restarted broker may have lost
    what it held)."""

    first_s: float = 60.0
    max_s: float = 1800.0

    def delay(self, sends: int) -> float:
        return float(min(self.max_s, self.first_s * 2.0 ** max(0, sends - 1)))


@dataclass(frozen=True, slots=True)
class PendingReading:
    seq: int
    reading: Reading
    attempts: int
    size: int  # bytes of its JSON, for keeping a batch under the message size limit


@dataclass(frozen=True, slots=True)
class PendingPacket:
    seq: int
    packet: UndecodedPacket
    attempts: int
    size: int  # bytes of its JSON, for keeping a batch under the message size limit


#: What the outbox keeps: readings, and packets the hub could not decode.
Kept = Reading | UndecodedPacket


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits on the hub, for telemetry and ``carewatch hub status``."""

    depth: int  # every reading (or undecoded packet) not yet confirmed by the server
    awaiting_receipt: int  # of those, taken by the broker at least once
    oldest: datetime | None  # when the oldest of them was stored here
    quarantined: int  # rows that could not be read back, kept aside


class Outbox:
    """``lazy=True`` (the hub process) opens the file on first use and again on every use
    until it opens, instead of failing at start: a hub restarted with its card full must still
    run, hold what its devices send, and store it once it can. ``on_full`` is asked to free
    space when SQLite cannot write for want of it (the hub's ``DiskReserve``; True if it
    freed some, and the operation is tried once more); ``on_room`` hears when the outbox has
    emptied, a good moment to take that space back."""

    def __init__(
        self,
        path: Path,
        *,
        resend: ResendPolicy | None = None,
        lazy: bool = False,
        on_full: Callable[[], bool] | None = None,
        on_room: Callable[[], object] | None = None,
    ) -> None:
        self.path = path
        self.resend = resend or ResendPolicy()
        self.on_full = on_full
        self.on_room = on_room
        self._lock = threading.Lock()
        self._unreadable: set[int] = set()  # rows that could not even be quarantined (disk full)
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        if not lazy:
            try:
                with self._lock:
                    self._open()
            except (sqlite3.Error, OSError) as e:
                raise OutboxUnavailable(f"cannot open outbox {path}: {e}") from e

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA journal_size_limit={_JOURNAL_SIZE_LIMIT}")
            conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
            conn.executescript(_SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            for name, decl in _ADDED_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {decl}")
            conn.execute(_DUE_INDEX)
            conn.execute(_DUE_WHAT_INDEX)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        """The connection, opened now if it is not yet (call with the lock held)."""
        if self._closed:
            raise sqlite3.ProgrammingError("the outbox is closed")
        if self._conn is None:
            try:
                self._conn = self._connect()
            except (sqlite3.Error, OSError) as e:
                if not (_for_want_of_space(e) and self.on_full is not None and self.on_full()):
                    raise
                self._conn = self._connect()
            log.info("outbox %s open", self.path)
        return self._conn

    @property
    def _db(self) -> sqlite3.Connection:
        return self._open()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _write(self, what: str, sql: str, rows: Iterable[Sequence[object]], *, flush: bool = True) -> int:
        """Run one statement over ``rows`` in one transaction; returns rows changed. If the
        card is full and ``on_full`` frees space, it is tried once more. ``flush=False``
        commits without waiting for the card (see ``mark_sent``)."""
        rows = list(rows)
        try:
            return self._write_once(what, sql, rows, flush)
        except OutboxUnavailable as e:
            if not (_for_want_of_space(e.__cause__) and self.on_full is not None and self.on_full()):
                raise
        return self._write_once(what, sql, rows, flush)

    def _write_once(self, what: str, sql: str, rows: list[Sequence[object]], flush: bool) -> int:
        try:
            with self._lock:
                if not flush:
                    self._db.execute("PRAGMA synchronous=NORMAL")
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    try:
                        cur = self._db.executemany(sql, rows)
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._rollback()
                        raise
                finally:
                    if not flush:
                        self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot {what} in {self.path}: {e}") from e
        return cur.rowcount

    def _rollback(self) -> None:
        """Roll back, unless SQLite already has (a COMMIT that fails for want of space ends the
        transaction itself, and a second ROLLBACK would hide the real error)."""
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # -- in --------------------------------------------------------------------------------
    def put(self, item: Kept) -> bool:
        """Store a reading (or an undecoded packet) durably; False if its id is already queued."""
        return self.put_many([item]) == 1

    def put_many(self, items: Sequence[Kept]) -> int:
        """Store readings (and undecoded packets) durably in one transaction (all or none);
        returns how many were new. One transaction, not one per reading, so a backlog held in
        memory through a full disk costs the journal a few pages, not a few per reading."""
        now = datetime.now(UTC).isoformat()
        rows = [
            (str(r.reading_id), r.model_dump_json(exclude_none=True), now, _READING)
            if isinstance(r, Reading)
            else (str(r.packet_id), r.model_dump_json(exclude_none=True), now, _UNDECODED)
            for r in items
        ]
        what = f"store {len(rows)} reading(s) (the first {rows[0][0]})" if rows else "store readings"
        sql = "INSERT OR IGNORE INTO outbox (reading_id, body, enqueued_at, what) VALUES (?, ?, ?, ?)"
        return self._write(what, sql, rows)

    # -- out -------------------------------------------------------------------------------
    def due(self, limit: int, *, now: float | None = None) -> list[PendingReading]:
        """The readings to send now, the earliest due first and then the oldest: never sent
        (or due again after a reconnection) before those whose resend time has come, as
        their due time is 0. A row that cannot be read back is quarantined and skipped."""
        return [
            PendingReading(seq, reading, attempts, size)
            for seq, reading, attempts, size in self._due(_READING, Reading, limit, now)
        ]

    def due_undecoded(self, limit: int, *, now: float | None = None) -> list[PendingPacket]:
        """The undecoded packets to send now, in the order ``due`` gives readings."""
        return [
            PendingPacket(seq, packet, attempts, size)
            for seq, packet, attempts, size in self._due(_UNDECODED, UndecodedPacket, limit, now)
        ]

    def _due(
        self, what: str, model: type[_T], limit: int, now: float | None
    ) -> list[tuple[int, _T, int, int]]:
        now = time.time() if now is None else now
        try:
            with self._lock:
                rows = self._db.execute(
                    # As bytes: a body that is not UTF-8 (a card's bit rot) would otherwise fail
                    # the whole query, every time, and hold back every reading behind it.
                    "SELECT seq, reading_id, CAST(body AS BLOB), attempts FROM outbox "
                    "WHERE what = ? AND due_at <= ? ORDER BY due_at, seq LIMIT ?",
                    (what, now, limit + len(self._unreadable)),
                ).fetchall()
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        out: list[tuple[int, _T, int, int]] = []
        stored = "stored reading" if what == _READING else "stored undecoded packet"
        for seq, reading_id, raw, attempts in rows:
            if seq in self._unreadable:
                continue
            try:
                item = model.model_validate_json(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                self._quarantine(seq, reading_id, raw, f"{stored} is not UTF-8: {e}")
                continue
            except ValidationError as e:
                self._quarantine(seq, reading_id, raw, summarise_validation(e, what=stored))
                continue
            out.append((seq, item, attempts, len(raw)))
            if len(out) == limit:
                break
        return out

    def _quarantine(self, seq: int, reading_id: str, body: str | bytes, reason: str) -> None:
        log.error("outbox row %d (reading %s) cannot be read back; quarantined: %s", seq, reading_id, reason)
        raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
        at = datetime.now(UTC).isoformat()
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(
                        "INSERT OR REPLACE INTO quarantine (seq, reading_id, body, reason, quarantined_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (seq, reading_id, raw, printable_line(reason, 2000), at),
                    )
                    self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
        except sqlite3.Error as e:
            # Cannot move it (disk full?): leave it where it is, skip it for this run.
            log.error("could not quarantine outbox row %d (%s); skipping it until restart", seq, e)
            self._unreadable.add(seq)

    def mark_sent(self, seqs: Sequence[int], *, now: float | None = None) -> None:
        """The broker took these; keep them until a receipt, due again after the resend delay.

        Committed without an fsync of its own (WAL, ``synchronous=NORMAL``): a power cut can
        lose only the mark, never a reading, and an unmarked reading is merely sent again
        (the server deduplicates); the next durable write carries the mark to the card. The
        fsync was a third of the time of a replay in batches of 200."""
        now = time.time() if now is None else now
        try:
            with self._lock:
                sends = dict(
                    self._db.execute(
                        f"SELECT seq, sends FROM outbox WHERE seq IN ({','.join('?' * len(seqs))})",  # noqa: S608
                        list(seqs),
                    ).fetchall()
                )
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        self._write(
            "mark readings sent",
            "UPDATE outbox SET sends = sends + 1, sent_at = ?, due_at = ?, last_error = NULL WHERE seq = ?",
            [(now, now + self.resend.delay(sends.get(s, 0) + 1), s) for s in seqs],
            flush=False,
        )

    def confirm(self, reading_ids: Iterable[str]) -> int:
        """The server holds these readings (or undecoded packets, by ``packet_id``): forget
        them. Returns how many were here."""
        ids = [(str(r),) for r in reading_ids]
        n = self._write("forget confirmed readings", "DELETE FROM outbox WHERE reading_id = ?", ids)
        if n and self.depth() == 0:
            self._checkpoint()
        return n

    def _checkpoint(self) -> None:
        """Empty again: fold the WAL into the database and cut it back, so the space a full
        disk freed is not taken back by the journal."""
        try:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            log.warning("outbox checkpoint failed (%s); the journal stays as it is for now", e)
            return
        if self.on_room is not None:
            self.on_room()

    def make_due_again(self, *, sent_before: float | None = None) -> int:
        """Every unconfirmed reading the broker took (before ``sent_before``) is due now: after a
        reconnection the broker may have restarted and lost what it acknowledged."""
        sent_before = time.time() if sent_before is None else sent_before
        return self._write(
            "make unconfirmed readings due",
            "UPDATE outbox SET due_at = 0 WHERE sends > 0 AND sent_at < ?",
            [(sent_before,)],
        )

    def record_failure(self, seqs: Sequence[int], error: str) -> None:
        self._write(
            "record a failed publish",
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
            [(error[:500], s) for s in seqs],
        )

    def next_due_in(self, *, now: float | None = None) -> float | None:
        """Seconds until the next reading is due (0 if one is due now); None if none waits."""
        now = time.time() if now is None else now
        try:
            with self._lock:
                (at,) = self._db.execute("SELECT min(due_at) FROM outbox").fetchone()
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        return None if at is None else max(0.0, float(at) - now)

    # -- for people ------------------------------------------------------------------------
    def depth(self) -> int:
        try:
            with self._lock:
                (n,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        return int(n)

    def backlog(self) -> Backlog:
        """How many readings wait, how many of them await a receipt, since when, and how
        many rows were quarantined (for telemetry)."""
        try:
            with self._lock:
                n, waiting, oldest = self._db.execute(
                    "SELECT count(*), coalesce(sum(sends > 0), 0), min(enqueued_at) FROM outbox"
                ).fetchone()
                (bad,) = self._db.execute("SELECT count(*) FROM quarantine").fetchone()
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        return Backlog(int(n), int(waiting), datetime.fromisoformat(oldest) if oldest else None, int(bad))
