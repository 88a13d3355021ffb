"""Hubs for technicians: presence, telemetry and what needs attention."""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from common.wire.addresses import normalize_address
from common.wire.topics import HUB_ID_PATTERN
from server.api.auth import Principal, Role, audit, require
from server.api.deps import Db
from server.api.guesses import GuessLimiter
from server.hubs import HubOverview, hub_overview
from server.store.models import AuditEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["hubs"])
Technician = Annotated[Principal, Depends(require(Role.TECHNICIAN))]


@router.get("/api/v1/hubs", response_model=list[HubOverview])
def list_hubs(principal: Technician, db: Db) -> list[HubOverview]:
    """Every hub: who it serves now, online or not, its last telemetry (outbox backlog,
    disk, devices and their batteries) and, in plain words, what needs a technician."""
    hubs = hub_overview(db)
    audit(db, principal, "hubs_listed", "*", f"n={len(hubs)}")
    return hubs


class PairRequest(BaseModel):
    address: str = Field(
        pattern=r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$", description="the device's Bluetooth address"
    )
    model_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="catalogue model id, e.g. and-ua-651ble"
    )
    user_index: int | None = Field(
        default=None,
        ge=0,
        le=254,
        description="on a device two people share: the patient's user slot, as the device reports it",
    )


class SharedWith(BaseModel):
    hub_id: str
    patient_id: str | None = Field(description="whom that hub serves now")
    address: str = Field(description="the device as that hub knows it (another address: same serial number)")


class Paired(BaseModel):
    hub_id: str
    address: str
    config_version: int
    delivered: bool = Field(
        description="the new configuration reached the broker (the hub gets it when online)"
    )
    problem: str | None = Field(
        default=None, description="why it was not delivered (kept: hub push resends it)"
    )
    warning: str | None = Field(
        default=None, description="the device is on another hub in service too: whose, in plain words"
    )
    shared_with: list[SharedWith] = []


@router.post(
    "/api/v1/hubs/{hub_id}/devices",
    response_model=Paired,
    responses={
        404: {"description": "no such hub"},
        422: {"description": "unknown model, or too many devices"},
    },
)
def pair_device(
    hub_id: Annotated[str, PathParam(pattern=HUB_ID_PATTERN)],
    body: PairRequest,
    principal: Technician,
    request: Request,
    db: Db,
) -> Paired:
    """Add a device to the hub's paired list (the server's list becomes the hub's whole list,
    as with `carewatch server hub pair`), and send the hub its configuration. A device another
    hub in service also has is paired all the same, with a warning naming that hub and its
    patient (audited): whichever hub hears it takes its readings, for its own patient."""
    from server.device_sharing import sharing_device, warn
    from server.hub_config import HubConfigError, deliver_each, pair
    from server.store.models import Hub

    with db.session() as s:
        if s.get(Hub, hub_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no hub {hub_id!r}")
    address = normalize_address(body.address)
    try:
        sent = pair(
            db, hub_id, address, model_id=body.model_id, actor=principal.username, user_index=body.user_index
        )
    except HubConfigError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(e)) from None
    shared = sharing_device(db, hub_id, address)
    warning = warn(db, hub_id, shared, actor=principal.username, why=f"pairing {address} (API)")
    problem = deliver_each(db, request.app.state.settings.mqtt.endpoint, [hub_id])[hub_id]
    return Paired(
        hub_id=hub_id,
        address=address,
        config_version=sent.version,
        delivered=problem is None,
        problem=problem,
        warning=warning,
        shared_with=[
            SharedWith(hub_id=x.other_hub, patient_id=x.other_patient, address=x.other_address)
            for x in shared
        ],
    )


class ClaimRequest(BaseModel):
    code: str = Field(min_length=8, max_length=16, description="the claim code shown to the technician")


@router.post(
    "/api/v1/enrol",
    responses={
        200: {"description": "the hub's enrolment bundle (carewatch-hub-bundle/1), once"},
        403: {"description": "the code is unknown, used or expired, or its hub was revoked"},
        429: {
            "description": "too many wrong codes lately (from this address, or from all): wait Retry-After seconds"
        },
        503: {"description": "the broker could not re-key the hub; the code stays good"},
    },
)
def enrol(body: ClaimRequest, request: Request, db: Db) -> Response:
    """Exchange a claim code for the hub's enrolment bundle (`carewatch hub enrol CODE
    --server URL` calls this). No token: the single-use, expiring code is the credential.
    The bundle holds the hub's new broker password, so it is never cached. Wrong codes are
    counted (``server.api.guesses``): past a few, every claim waits, a right code too."""
    from server.hub_enrolment import ClaimRefused, claim_with
    from server.hub_lifecycle import BrokerAdminError, LifecycleError
    from server.store.models import now

    settings = request.app.state.settings
    guesses: GuessLimiter = request.app.state.enrol_guesses
    address = request.client.host if request.client else "unknown"
    at = now()
    wait = guesses.wait(address, at)
    if wait > 0:
        log.warning(
            "claim from %s refused unread: too many wrong codes lately (%.0f s to wait)", address, wait
        )
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong codes lately; try again in {math.ceil(wait)} seconds",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    try:
        bundle = claim_with(db, settings.mqtt, body.code)
    except (ClaimRefused, LifecycleError) as e:
        for lockout in guesses.wrong(address, at):
            with db.session() as s:
                s.add(
                    AuditEvent(
                        actor="enrol",
                        action="hub_claim_locked_out",
                        target=lockout.scope,
                        detail=(
                            f"{lockout.wrong} wrong claim codes "
                            + (f"from {address}" if lockout.scope != "*" else "from all addresses")
                            + f" within {settings.enrol_guesses.window_s:g} s; claims wait "
                            f"{math.ceil(lockout.retry_after_s)} s"
                        ),
                    )
                )
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    except (BrokerAdminError, OSError) as e:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot issue the bundle now: {e}"
        ) from None
    return Response(bundle.to_json(), media_type="application/json", headers={"Cache-Control": "no-store"})
