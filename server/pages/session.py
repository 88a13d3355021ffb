"""Signing in to the pages: the user's API token, exchanged for a server-side session.

A trust would put its single sign-on (NHS CIS2, Entra ID) in front of this; until then the
token a user was given at ``carewatch server user add`` is the credential. Signing in
exchanges it for a random session secret in a cookie, so the long-lived token never sits in
a browser; only the secret's SHA-256 is stored, and the session ends at sign-out (on the
server, not just in the browser) or after ``page_session_hours`` (a shift). The cookie is
HttpOnly (no script can read it), SameSite=Lax (sent when a clinician follows a
notification link, never on a cross-site form post) and Secure whenever the server is
reached over HTTPS. Form posts are also refused unless their Origin (or Referer) is this
server: the CSRF defence does not rest on the browser's SameSite support alone.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.api.auth import Principal, hash_token, principal_of
from server.store.database import Database
from server.store.models import PageSession, User, now

COOKIE = "carewatch_session"


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in form, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ForeignOrigin(Exception):
    """A form post that did not come from this server's own pages."""


def start_session(db: Database, principal: Principal, token_hash: str, lasts: timedelta) -> str:
    """A new session for ``principal``, who signed in with the token hashing to
    ``token_hash``; returns the secret for the cookie (never stored)."""
    secret = secrets.token_urlsafe(32)
    at = now()
    with db.session() as s:
        # Sessions past their end are useless (sign-ins and sign-outs are in the audit trail),
        # so each sign-in sweeps them rather than letting the table grow for years.
        s.execute(delete(PageSession).where(PageSession.expires_at < at))
        s.add(
            PageSession(
                secret_hash=hash_token(secret),
                username=principal.username,
                created_at=at,
                expires_at=at + lasts,
                token_hash=token_hash,
            )
        )
    return secret


def _live(s: Session, secret: str | None) -> tuple[PageSession, Principal] | None:
    """The session behind ``secret`` and its user, if it is live: not ended, not expired,
    the user not disabled, and opened with the token the user holds now (a rotated token
    ends its sessions; one from before sessions recorded their token counts as ended)."""
    if not secret:
        return None
    session = s.get(PageSession, hash_token(secret))
    if session is None or session.ended_at is not None or session.expires_at <= now():
        return None
    user = s.scalars(select(User).where(User.username == session.username)).first()
    if user is None or session.token_hash is None or session.token_hash != user.token_hash:
        return None
    principal = principal_of(user)
    return None if principal is None else (session, principal)


def session_principal(db: Database, secret: str | None) -> Principal | None:
    with db.session() as s:
        live = _live(s, secret)
        return None if live is None else live[1]


def end_session(db: Database, secret: str | None) -> Principal | None:
    """End the session (sign-out); returns whose it was, if it was live."""
    with db.session() as s:
        live = _live(s, secret)
        if live is None:
            return None
        session, principal = live
        session.ended_at = now()
        return principal


def signed_in(request: Request, db: Database) -> Principal:
    principal = session_principal(db, request.cookies.get(COOKIE))
    if principal is None:
        raise SignInRequired(local_path(request.url.path))
    return principal


def check_same_origin(request: Request) -> None:
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        raise ForeignOrigin("form post without Origin or Referer")
    theirs = urlsplit(sent)
    if (theirs.scheme, theirs.netloc) != (request.url.scheme, request.url.netloc):
        raise ForeignOrigin(f"form post from {theirs.scheme}://{theirs.netloc}")


def local_path(path: str | None) -> str:
    """``path`` if it is a path on this server, else the work list: a sign-in link must not
    be able to send a clinician anywhere else afterwards (open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/alerts"
    return path


def secure_cookie(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")
