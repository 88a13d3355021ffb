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


def test_0018_marks_the_hubs_the_server_already_sent_a_device_list_as_managed(tmp_path: Path) -> None:
    """Before 0018 every configuration listed the devices: a hub with any version has the
    server's list; one without keeps the devices paired at it."""
    from sqlalchemy import text

    db = Database(sqlite_url(tmp_path / "old.sqlite3"))
    command.upgrade(db.alembic_config(), "0017")
    with db.engine.begin() as c:
        for hub_id, version in (("hub-local", 0), ("hub-listed", 3)):
            c.execute(
                text(
                    "INSERT INTO hubs (id, label, created_at, status, config_version, config_delivered_version) "
                    "VALUES (:h, '', '2026-01-01 00:00:00', 'unknown', :v, :v)"
                ),
                {"h": hub_id, "v": version},
            )
    db.migrate()
    with db.engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text("SELECT id, devices_managed FROM hubs ORDER BY id"))]
    assert rows == [("hub-listed", 1), ("hub-local", 0)]
    db.dispose()
