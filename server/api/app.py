"""The FastAPI application. Every API route but /health needs a bearer token (auth.py); the
clinicians' pages (server.pages) are served beside it and sign in with the same token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.api.routes import alerts, health, hubs, readings, rules
from server.api.routes.health import HealthChecks
from server.pages.routes import install as install_pages
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx import InfluxStore


def create_app(settings: ServerSettings, db: Database, influx: InfluxStore) -> FastAPI:
    readers = influx.for_people()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        readers.close()

    app = FastAPI(
        lifespan=lifespan,
        title="CareWatch API",
        version="1",
        description="Remote monitoring for community health teams. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.db = db
    app.state.influx = readers
    app.state.settings = settings
    app.state.health_checks = HealthChecks(settings, db, readers)
    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(readings.router)
    app.include_router(rules.router)
    app.include_router(hubs.router)
    install_pages(app)
    return app
