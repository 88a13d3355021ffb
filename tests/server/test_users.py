"""Disabling a user and rotating a token take effect at once, on the API and in every page
session: the real app, database and sign-in form (the browser version is in
tests/pages/test_user_sessions.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.api.auth import Role, create_user, hash_token, principal_for_token
from server.store.database import Database
from server.store.models import AuditEvent, PageSession, now
from server.users import UnknownUser, list_users, rotate_token, set_enabled
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack

OWN = {"Origin": "http://carewatch.test"}


def _api(stack: Stack, token: str) -> int:
    return int(stack.api.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code)


def _page(client: TestClient) -> tuple[int, str]:
    r = client.get("/alerts", follow_redirects=False)
    return r.status_code, r.headers.get("location", "")


SIGNED_OUT = (303, "/sign-in?next=/alerts")


def _audit(db: Database, username: str) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.target == username).order_by(AuditEvent.id))
        return [(e.actor, e.action, e.detail) for e in rows if e.action.startswith("user_")]


def test_a_disabled_user_is_refused_at_once_everywhere(stack: Stack) -> None:
    token = create_user(stack.db, "matron-leaves", Role.CLINICIAN)
    pages = signed_in_client(stack.api.app, token)
    assert _api(stack, token) == 200 and _page(pages) == (200, "")

    assert set_enabled(stack.db, "matron-leaves", False, actor="admin-1") is True
    assert _api(stack, token) == 401
    assert _page(pages) == SIGNED_OUT
    again = pages.post("/sign-in", data={"token": token}, headers=OWN, follow_redirects=False)
    assert again.status_code == 401 and "That token is not valid." in again.text
    assert set_enabled(stack.db, "matron-leaves", False, actor="admin-1") is False  # already

    # Enabled again: the token works, but the old browser session stays ended.
    assert set_enabled(stack.db, "matron-leaves", True, actor="admin-1") is True
    assert _api(stack, token) == 200
    assert _page(pages) == SIGNED_OUT
    assert _page(signed_in_client(stack.api.app, token)) == (200, "")
    assert _audit(stack.db, "matron-leaves") == [
        ("system:cli", "user_created", "clinician"),
        ("admin-1", "user_disabled", "1 page session(s) ended"),
        ("admin-1", "user_enabled", ""),
    ]


def test_rotating_a_token_ends_the_old_one_and_its_sessions(stack: Stack) -> None:
    old = create_user(stack.db, "matron-leak", Role.CLINICIAN)
    first, second = signed_in_client(stack.api.app, old), signed_in_client(stack.api.app, old)
    other = signed_in_client(stack.api.app, stack.token)  # another user's session is untouched

    new = rotate_token(stack.db, "matron-leak", actor="admin-1")
    assert new != old and new.startswith("cw_")
    assert (_api(stack, old), _api(stack, new)) == (401, 200)
    assert _page(first) == SIGNED_OUT and _page(second) == SIGNED_OUT
    assert _page(other) == (200, "")
    assert _page(signed_in_client(stack.api.app, new)) == (200, "")
    refused = TestClient(stack.api.app, base_url="http://carewatch.test").post(
        "/sign-in", data={"token": old}, headers=OWN, follow_redirects=False
    )
    assert refused.status_code == 401
    [rotated] = [a for a in _audit(stack.db, "matron-leak") if a[1] == "user_token_rotated"]
    assert rotated == ("admin-1", "user_token_rotated", "2 page session(s) ended")
    with stack.db.session() as s:  # neither token nor hash is written to the audit trail
        details = " ".join(e.detail for e in s.scalars(select(AuditEvent)))
    assert old not in details and new not in details and hash_token(new) not in details


def test_a_session_whose_token_no_longer_matches_is_dead_even_if_not_marked_ended(stack: Stack) -> None:
    """Sessions from before sessions recorded their token (NULL), and one whose token hash
    differs from the user's (e.g. a rotation by hand in the database), are ended."""
    token = create_user(stack.db, "matron-old", Role.CLINICIAN)
    username = "matron-old"
    client = TestClient(stack.api.app, base_url="http://carewatch.test")
    for token_hash in (None, hash_token("cw_some-earlier-token"), hash_token(token)):
        secret = f"secret-{token_hash}"
        with stack.db.session() as s:
            s.add(
                PageSession(
                    secret_hash=hash_token(secret),
                    username=username,
                    created_at=now(),
                    expires_at=now() + timedelta(hours=1),
                    token_hash=token_hash,
                )
            )
        client.cookies.set("carewatch_session", secret)
        expected = (200, "") if token_hash == hash_token(token) else SIGNED_OUT
        assert _page(client) == expected, token_hash


def test_users_are_listed_without_secrets_and_unknown_names_are_named(stack: Stack) -> None:
    token = create_user(stack.db, "tech-list", Role.TECHNICIAN)
    set_enabled(stack.db, "tech-list", False, actor="admin-1")
    listed = {u.username: (u.role, u.enabled) for u in list_users(stack.db)}
    assert listed["tech-list"] == (Role.TECHNICIAN, False)
    assert listed[principal_name(stack)] == (Role.CLINICIAN, True)
    assert token not in repr(list_users(stack.db)) and hash_token(token) not in repr(list_users(stack.db))
    with pytest.raises(UnknownUser, match="no user 'nobody'"):
        rotate_token(stack.db, "nobody", actor="admin-1")
    with pytest.raises(UnknownUser):
        set_enabled(stack.db, "nobody", False, actor="admin-1")


def principal_name(stack: Stack) -> str:
    principal = principal_for_token(stack.db, stack.token)
    assert principal is not None
    return principal.username
