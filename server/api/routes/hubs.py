"""Hubs for technicians: presence, telemetry and what needs attention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from server.api.auth import Principal, Role, audit, require
from server.api.deps import Db
from server.hubs import HubOverview, hub_overview

router = APIRouter(tags=["hubs"])
Technician = Annotated[Principal, Depends(require(Role.TECHNICIAN))]


@router.get("/api/v1/hubs", response_model=list[HubOverview])
def list_hubs(principal: Technician, db: Db) -> list[HubOverview]:
    """Every hub: who it serves now, online or not, its last telemetry (outbox backlog,
    disk, devices and their batteries) and, in plain words, what needs a technician."""
    hubs = hub_overview(db)
    audit(db, principal, "hubs_listed", "*", f"n={len(hubs)}")
    return hubs
