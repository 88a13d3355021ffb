"""``carewatch server patient feedback`` as a real process on a real database: shows, sets,
refuses bad input in plain words (nothing stored), clears, and every change is audited."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from server.store.database import Database, sqlite_url
from server.store.models import AuditEvent
from tests.cli.test_commands import run


def test_set_show_refuse_and_clear_from_the_command_line(tmp_path: Path) -> None:
    env = dict(os.environ, CAREWATCH_DATABASE_URL=sqlite_url(tmp_path / "cw.sqlite3"))
    assert run("server", "migrate", env=env).returncode == 0
    assert run("server", "patient", "add", "p-0009", "Gwen Jones", env=env).returncode == 0

    helped = run("server", "patient", "feedback", "--help", env=env).stdout
    for option in ("--speak", "--speak-values", "--no-speak-values", "--language", "--reminder", "--clear"):
        assert option in helped, option

    shown = run("server", "patient", "feedback", "p-0009", env=env)
    assert "the hub's defaults" in shown.stdout and "values read out: no" in shown.stdout

    changed = run(
        "server", "patient", "feedback", "p-0009",
        "--speak", "confirmed,reminder", "--language", "cy", "--reminder", "weight@10:00", "--reminder", "bp@8:30",
        env=env,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "spoken: confirmed, reminder" in changed.stdout
    assert "language: cy" in changed.stdout
    assert "reminders: weight@10:00, blood_pressure@08:30" in changed.stdout
    assert "blood_pressure reminder at 08:30 is for a reading the team is not alerted about" in changed.stdout
    assert "no hub serves this patient" in changed.stdout

    # One option changes one thing; the rest stays.
    values = run("server", "patient", "feedback", "p-0009", "--speak-values", env=env)
    assert "values read out: yes" in values.stdout and "language: cy" in values.stdout

    for args, words in (
        (["--language", "fr"], "cannot speak 'fr': choose from en (English), cy (Welsh (Cymraeg))"),
        (["--speak", "received,shout"], "Unknown event 'shout'"),
        (["--reminder", "weight@25:00"], "25:00 in 'weight@25:00' is not a 24-hour time"),
        (["--reminder", "glucose@08:00"], "Unknown reading 'glucose'"),
        (["--reminder", "weight 08:00"], "must be KIND@HH:MM"),
        (["--clear", "--language", "en"], "--clear goes alone"),
    ):
        refused = run("server", "patient", "feedback", "p-0009", *args, env=env)
        assert (refused.returncode, words in refused.stderr) == (2, True), (args, refused.stderr)
    assert "no patient 'p-0404'" in run("server", "patient", "feedback", "p-0404", env=env).stderr

    cleared = run("server", "patient", "feedback", "p-0009", "--clear", env=env)
    assert cleared.returncode == 0 and "the hub's defaults" in cleared.stdout

    db = Database(sqlite_url(tmp_path / "cw.sqlite3"))
    try:
        with db.session() as s:
            events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "feedback_changed")))
            details = [json.loads(e.detail) for e in events]
    finally:
        db.dispose()
    assert len(details) == 3  # set, values on, cleared; nothing for the refusals
    assert details[1]["to"]["speak_values"] is True and details[2]["to"] is None
