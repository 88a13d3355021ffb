"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from server.store.database import Database, sqlite_url
from server.store.models import Base


def test_migrations_reach_the_models_and_are_idempotent(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "m.sqlite3"))
    db.migrate()
    db.migrate()  # a second run changes nothing and does not fail
    command.check(db.alembic_config())  # raises if autogenerate would find a difference
    assert set(inspect(db.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    db.dispose()
