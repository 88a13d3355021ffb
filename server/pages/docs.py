"""The API's interactive documentation at /docs: Swagger UI from files this server serves
(vendored from npm by ``frontend/refresh``), started by a script file rather than inline, so
it works under a CSP without 'unsafe-inline' and on a network with no internet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.pages.render import page

router = APIRouter(include_in_schema=False)

#: Swagger UI draws its icons from data: URIs and fetches the schema from this server;
#: everything else is as strict as the pages' policy.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    response = page(request, "docs.html", title=request.app.title, openapi_url=request.app.openapi_url)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
