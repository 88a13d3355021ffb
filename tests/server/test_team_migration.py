"""Migration 0013 on a database from before teams: nobody loses sight of a patient at the
upgrade (every clinician joins every team the patients are in), and no one else gains any."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from server.store.database import Database, sqlite_url


def test_existing_clinicians_keep_seeing_every_team_after_the_upgrade(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "old.sqlite3"))
    command.upgrade(db.alembic_config(), "0012")
    with db.engine.begin() as c:
        for name, role in (("matron", "clinician"), ("tech", "technician"), ("boss", "admin")):
            c.execute(
                text(
                    "INSERT INTO users (username, role, token_hash, created_at, disabled) "
                    "VALUES (:n, :r, :h, '2026-01-01 00:00:00', 0)"
                ),
                {"n": name, "r": role, "h": name * 8},
            )
        for pid, team in (("p-1", "north"), ("p-2", "south"), ("p-3", "north")):
            c.execute(
                text(
                    "INSERT INTO patients (id, display_name, team, created_at, conditions) "
                    "VALUES (:p, 'X', :t, '2026-01-01 00:00:00', '[]')"
                ),
                {"p": pid, "t": team},
            )
    db.migrate()
    with db.engine.connect() as c:
        teams = [r[0] for r in c.execute(text("SELECT name FROM teams ORDER BY name"))]
        members = [tuple(r) for r in c.execute(text("SELECT username, team FROM team_members ORDER BY team"))]
    assert teams == ["default", "north", "south"]
    assert members == [("matron", "default"), ("matron", "north"), ("matron", "south")]
    db.dispose()
