"""The relational database: an SQLite file by default, PostgreSQL by URL, Alembic-migrated."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
#: Alembic keeps the migration context in module globals: two migrations at once in one
#: process (two databases, two threads) would run inside each other's context.
_MIGRATING = threading.Lock()


class DatabaseUnavailable(RuntimeError):
    """The relational database cannot be reached or written."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # API readers do not block the ingest writer
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged reading survives a power cut
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        log.info("migrating database schema to head")
        with _MIGRATING:
            command.upgrade(self.alembic_config(), "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except DBAPIError as e:
            _rollback(s)
            if _is_outage(e):
                raise DatabaseUnavailable(str(e.orig)) from e
            raise
        except BaseException:
            _rollback(s)
            raise
        finally:
            s.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except OperationalError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _is_outage(e: DBAPIError) -> bool:
    """Whether the database is unreachable or was restarted (try again later), rather than
    refusing this data (which no retry can fix). PostgreSQL's restart shows as a dropped
    connection (InterfaceError, or an invalidated connection) as often as OperationalError."""
    return isinstance(e, OperationalError | InterfaceError) or e.connection_invalidated


def _rollback(s: Session) -> None:
    """Roll back; a connection that is already gone cannot, and that is fine."""
    try:
        s.rollback()
    except DBAPIError as e:
        log.warning("rollback failed on a broken connection: %s", e.orig)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
