"""The API-and-pages process, assembled: the FastAPI application with the API's routers
(``server.api``) and the clinicians' pages (``server.pages``) beside them. Every API route but
/health needs a bearer token (``server.api.auth``); the pages sign in with the same token.
The pages build on the API's pieces; the API knows nothing of the pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from server.api.guesses import GuessLimiter
from server.api.routes import alerts, feedback, health, hubs, readings, records, rules
from server.api.routes.health import HealthChecks
from server.pages.routes import install as install_pages
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone UTF-16 surrogate (``"\\ud800"``
    is valid JSON) can then be echoed back, where UTF-8 cannot encode it at all."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


async def refused(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422 (the same document), rendered as ASCII JSON. The 422 echoes the
    refused input, and an input with a lone surrogate made rendering it fail: the client
    got a 500 for a request that was only invalid."""
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse(status_code=422, content={"detail": jsonable_encoder(exc.errors())})


def create_app(settings: ServerSettings, db: Database, influx: InfluxStore) -> FastAPI:
    readers = influx.for_people()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        readers.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served by the pages from local files (server.pages.docs), under the CSP
        redoc_url=None,
        title="CareWatch API",
        version="1",
        description="Remote monitoring for community health teams. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.db = db
    app.state.influx = readers
    app.state.settings = settings
    app.state.health_checks = HealthChecks(settings, db, readers)
    app.state.enrol_guesses = GuessLimiter(settings.enrol_guesses)  # wrong claim codes, per process
    app.add_exception_handler(RequestValidationError, refused)
    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(readings.router)
    app.include_router(rules.router)
    app.include_router(hubs.router)
    app.include_router(feedback.router)
    app.include_router(records.router)
    install_pages(app)
    return app
