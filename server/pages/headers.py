"""The headers every page carries, and what the browser is told for a URL that names no
page: the pages' own layout for a person, the API's JSON under /api for a program."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from server.pages.render import not_found, problem
from server.pages.session import COOKIE, session_principal

#: Scripts, styles and images from this server only; no inline code, no framing. The work
#: list's script fetches its own fragment from this server (connect-src), nothing else.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: What stays JSON for a program: the API and its schema.
_PROGRAM_PATHS = ("/api/", "/openapi.json")


async def page_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """No foreign script, no framing, no caching of patient data, and an Origin on every post.
    A page that needs a looser policy (/docs) sets its own first."""
    response = await call_next(request)
    if response.headers.get("content-type", "").startswith("text/html"):
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
    return response


async def no_such_page(request: Request, exc: Exception) -> Response:
    """A URL with no page (404) or a method a page does not take (405)."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(_PROGRAM_PATHS) or exc.status_code not in (404, 405):
        return await http_exception_handler(request, exc)
    principal = await run_in_threadpool(session_principal, request.app.state.db, request.cookies.get(COOKIE))
    if exc.status_code == 405:
        return problem(
            request,
            405,
            "That cannot be done here",
            "This address is a page to look at, not a form to send.",
            user=principal,
        )
    return not_found(request, "page at this address", principal)
