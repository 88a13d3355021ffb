"""Users as an administrator manages them: list, disable, enable, rotate a token.

A disabled user, or one whose token was rotated because it leaked or its holder left, must
lose access at once, not at the end of a shift: the API checks the user on every request,
and each page session is tied to the hash of the token that opened it (see
``server.pages.session``), so both end with the change. The change also marks the user's
open page sessions ended, in the same transaction as the change and its audit record, so a
later ``enable`` does not bring an old browser session back. Every change is audited; tokens
and their hashes never leave this module except as the one new token returned to be shown
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.auth import Role, hash_token, new_token
from server.store.database import Database
from server.store.models import AuditEvent, PageSession, User, now


class UnknownUser(LookupError):
    """No user by that name (the command names the user it could not find)."""

    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}")
        self.username = username


@dataclass(frozen=True)
class UserSummary:
    """What an administrator may see of a user: never the token or its hash."""

    username: str
    role: Role
    enabled: bool
    created_at: datetime


def list_users(db: Database) -> list[UserSummary]:
    with db.session() as s:
        return [
            UserSummary(u.username, Role(u.role), not u.disabled, u.created_at)
            for u in s.scalars(select(User).order_by(User.username))
        ]


def _user(s: Session, username: str) -> User:
    user = s.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise UnknownUser(username)
    return user


def _end_sessions(s: Session, username: str) -> int:
    """End the user's open page sessions; returns how many there were."""
    at = now()
    sessions = list(
        s.scalars(
            select(PageSession).where(
                PageSession.username == username, PageSession.ended_at.is_(None), PageSession.expires_at > at
            )
        )
    )
    for session in sessions:
        session.ended_at = at
    return len(sessions)


def set_enabled(db: Database, username: str, enabled: bool, *, actor: str) -> bool:
    """Enable or disable ``username``; False (and nothing audited) if it already was so.
    Disabling ends the user's page sessions at once; enabling brings none back."""
    with db.session() as s:
        user = _user(s, username)
        if user.disabled is not enabled:
            return False
        user.disabled = not enabled
        detail = "" if enabled else f"{_end_sessions(s, username)} page session(s) ended"
        s.add(
            AuditEvent(
                actor=actor,
                action="user_enabled" if enabled else "user_disabled",
                target=username,
                detail=detail,
            )
        )
    return True


def rotate_token(db: Database, username: str, *, actor: str) -> str:
    """Give ``username`` a new token and return it (the only time it is visible); the old
    token stops working at once, and every page session opened with it ends."""
    token = new_token()
    with db.session() as s:
        user = _user(s, username)
        user.token_hash = hash_token(token)
        ended = _end_sessions(s, username)
        s.add(
            AuditEvent(
                actor=actor,
                action="user_token_rotated",
                target=username,
                detail=f"{ended} page session(s) ended",
            )
        )
    return token
