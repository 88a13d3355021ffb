"""The demo's state directory and secrets are the owner's alone, and its users' tokens are
rotated like anyone's. These call the demo's own functions on real files and a real
database; the full demo run in test_commands.py checks the modes of everything it and its
services create (that run takes about a minute, so the cases of an earlier, world-readable
state directory are checked here)."""

from __future__ import annotations

import stat
from pathlib import Path

from devstack.demo import DEMO_USER, _demo_token, prepare_state_dir, write_secret
from server.api.auth import Role, principal_for_token
from server.store.database import Database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_state_directory_is_private(tmp_path: Path) -> None:
    state = prepare_state_dir(tmp_path / "new" / "demo")
    assert mode(state) == 0o700


def test_an_earlier_world_readable_state_directory_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    (state / "hubs").mkdir(parents=True)
    for path, m in ((state, 0o755), (state / "hubs", 0o755)):
        path.chmod(m)
    for name in ("demo-token", "carewatch.sqlite3", "hubs/outbox.sqlite3"):
        (state / name).write_text("x")
        (state / name).chmod(0o644)
    (state / "link").symlink_to("/etc/hostname")  # not followed: /etc is not ours to change
    before = mode(Path("/etc/hostname"))
    assert prepare_state_dir(state) == state.resolve()
    assert mode(state) == 0o700 and mode(state / "hubs") == 0o700
    for name in ("demo-token", "carewatch.sqlite3", "hubs/outbox.sqlite3"):
        assert mode(state / name) == 0o600, name
    assert mode(Path("/etc/hostname")) == before


def test_secrets_are_written_owner_only_even_over_a_wider_file(tmp_path: Path) -> None:
    fresh = tmp_path / "demo-token"
    write_secret(fresh, "cw_one\n")  # pytest's umask is the usual 022
    assert (mode(fresh), fresh.read_text()) == (0o600, "cw_one\n")
    old = tmp_path / "server-mqtt-password"
    old.write_text("a much longer earlier secret")
    old.chmod(0o644)
    write_secret(old, "new")
    assert (mode(old), old.read_text()) == (0o600, "new")


def test_each_demo_run_rotates_the_demo_token(database: Database) -> None:
    first = _demo_token(database, DEMO_USER, Role.CLINICIAN)
    second = _demo_token(database, DEMO_USER, Role.CLINICIAN)
    assert principal_for_token(database, first) is None
    principal = principal_for_token(database, second)
    assert principal is not None and (principal.username, principal.role) == (DEMO_USER, Role.CLINICIAN)
