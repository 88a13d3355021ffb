"""Hubs for technicians: presence, telemetry and what needs attention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

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


class ClaimRequest(BaseModel):
    code: str = Field(min_length=8, max_length=16, description="the claim code shown to the technician")


@router.post(
    "/api/v1/enrol",
    responses={
        200: {"description": "the hub's enrolment bundle (carewatch-hub-bundle/1), once"},
        403: {"description": "the code is unknown, used or expired"},
        503: {"description": "the broker could not re-key the hub; the code stays good"},
    },
)
def enrol(body: ClaimRequest, request: Request, db: Db) -> Response:
    """Exchange a claim code for the hub's enrolment bundle (`carewatch hub enrol CODE
    --server URL` calls this). No token: the single-use, expiring code is the credential.
    The bundle holds the hub's new broker password, so it is never cached."""
    from server.hub_enrolment import ClaimRefused, claim_with
    from server.hub_lifecycle import BrokerAdminError, LifecycleError

    settings = request.app.state.settings
    try:
        bundle = claim_with(db, settings.mqtt, body.code)
    except (ClaimRefused, LifecycleError) as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    except (BrokerAdminError, OSError) as e:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot issue the bundle now: {e}"
        ) from None
    return Response(bundle.to_json(), media_type="application/json", headers={"Cache-Control": "no-store"})
