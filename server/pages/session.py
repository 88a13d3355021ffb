"""Signing in to the pages: the user's API token, held in a session cookie.

A trust would put its single sign-on (NHS CIS2, Entra ID) in front of this; until then the
token a user was given at ``carewatch server user add`` is the credential, and the cookie
carries it so that no second secret store exists. The cookie is HttpOnly (no script can
read it), SameSite=Lax (sent when a clinician follows a notification link, never on a
cross-site form post) and Secure whenever the server is reached over HTTPS. Form posts are
also refused unless their Origin (or Referer) is this server: the CSRF defence does not
rest on the browser's SameSite support alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from server.api.auth import Principal, principal_for_token
from server.store.database import Database

COOKIE = "carewatch_session"


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in form, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ForeignOrigin(Exception):
    """A form post that did not come from this server's own pages."""


def signed_in(request: Request, db: Database) -> Principal:
    token = request.cookies.get(COOKIE)
    principal = principal_for_token(db, token) if token else None
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
