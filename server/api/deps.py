"""Dependencies shared by the routers: the stores on app.state, and role shorthands."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.api.auth import Principal, Role, get_db, require
from server.store.database import Database
from server.store.influx.store import InfluxStore


def get_influx(request: Request) -> InfluxStore:
    store: InfluxStore = request.app.state.influx
    return store


Db = Annotated[Database, Depends(get_db)]
Influx = Annotated[InfluxStore, Depends(get_influx)]
Clinician = Annotated[Principal, Depends(require(Role.CLINICIAN))]
