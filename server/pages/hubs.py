"""The technicians' pages: every hub, one hub in detail, and what a technician does to hubs:
add one, give it a claim code (with its QR code) or an enrolment bundle, re-key it, revoke it,
replace its hardware.

Every change is a POST from a confirmation page, checked for its origin like every form of
the pages, made by ``server.hub_lifecycle`` / ``server.hub_enrolment`` (the same records and
broker changes as the command line, audited in the signed-in technician's name), so the page
and ``carewatch server hub`` cannot differ. The web process holds the control plane's broker
identity for this (``CAREWATCH_MQTT__PASSWORD_FILE``); a broker it cannot reach is said
in plain words and nothing is changed.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from common.wire.topics import HUB_ID_PATTERN
from server import hub_enrolment as enrolment
from server import hub_lifecycle
from server.api.auth import Principal, audit
from server.api.deps import Db
from server.hub_detail import hub_detail
from server.hubs import hub_overview
from server.pages.render import PageRoute, not_found, page, technician
from server.pages.session import check_same_origin
from server.provisioning import ProvisioningError
from server.settings import ServerSettings

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HubId = Annotated[str, PathParam(pattern=HUB_ID_PATTERN)]

#: What each action does, in the words of its confirmation page.
ACTIONS: Final = {
    "claim-code": (
        "Show a claim code",
        "A code to type on the hub (carewatch hub enrol CODE), valid for 24 hours and once. "
        "When the hub uses it, the hub gets a new password: if it is in service now, it is "
        "disconnected until it has enrolled with the code. An earlier unused code stops working.",
    ),
    "bundle": (
        "Download an enrolment bundle",
        "A file with the hub's broker address, the certificate and a new password, valid for 7 days, "
        "to copy to the hub (carewatch hub enrol FILE). The hub's current password stops working now: "
        "if it is in service, it is disconnected until the bundle is on it. Keep the file safe and "
        "delete it once used.",
    ),
    "rotate": (
        "Give the hub a new password",
        "The current password stops working now and the hub is disconnected at once. You then get a "
        "claim code to enrol it again. Use this if the hub's card may have been copied.",
    ),
    "revoke": (
        "Revoke the hub",
        "The broker refuses the hub from now on and drops its connection at once. Readings it holds "
        "stay on it until it is let back in (reinstated, with a new password). Its unused claim codes and "
        "bundle stop working. Use this for a lost, stolen or returned hub.",
    ),
    "reinstate": (
        "Reinstate the hub",
        "The revoked hub is let back in with a new password: the one it had before stays refused. "
        "You then get a claim code to enrol it again. Say why: it is kept in the record.",
    ),
    "replace": (
        "Replace the hub's hardware",
        "The new hub serves the same patient from now, with the same paired devices; this hub is "
        "revoked and its assignment ends now. The patient's readings so far stay theirs. You then get "
        "a claim code for the new hub.",
    ),
}
Action = Annotated[str, PathParam(pattern="^(" + "|".join(ACTIONS) + ")$")]


def _settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


@router.get("/hubs", response_class=HTMLResponse)
def hubs_page(request: Request, db: Db) -> HTMLResponse:
    principal = technician(request, db)
    hubs = hub_overview(db)
    hubs.sort(key=lambda h: (not h.attention, h.id))  # the ones needing attention first
    audit(db, principal, "hubs_listed", "*", f"page n={len(hubs)}")
    return page(request, "hubs.html", user=principal, hubs=hubs)


@router.get("/hubs/new", response_class=HTMLResponse)
def new_hub_form(request: Request, db: Db) -> HTMLResponse:
    principal = technician(request, db)
    return page(request, "hub_new.html", user=principal, form={}, errors={}, error_list=[])


@router.post("/hubs/new", response_model=None)
def add_hub(
    request: Request,
    db: Db,
    hub_id: Annotated[str, Form(max_length=100)] = "",
    patient_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Register the hub, assign it, let it in at the broker, and show its claim code."""
    check_same_origin(request)
    principal = technician(request, db)
    hub_id, patient_id = hub_id.strip().lower(), patient_id.strip()
    form = {"hub_id": hub_id, "patient_id": patient_id}

    def again(status: int, field: str | None, text: str) -> HTMLResponse:
        error_list: list[dict[str, str | None]] = [{"field": field, "text": text}]
        errors = {field: text} if field else {}
        return page(
            request, "hub_new.html", status, user=principal, form=form, errors=errors, error_list=error_list
        )

    if not hub_id:
        return again(422, "hub_id", "Enter the hub id printed on the hub, for example hub-0042")
    try:
        endpoint = _settings(request).mqtt.endpoint()
        hub_lifecycle.add(db, endpoint, hub_id, actor=principal.username, patient_id=patient_id or None)
    except ProvisioningError as e:
        field = "patient_id" if "patient" in str(e) else "hub_id"
        return again(422, field, str(e)[0].upper() + str(e)[1:])
    except (hub_lifecycle.BrokerAdminError, OSError) as e:
        return again(503, None, f"The broker could not be reached, so nothing was changed: {e}")
    return _claim_code_page(request, db, principal, hub_id, added=True)


def _claim_code_page(
    request: Request, db: Db, principal: Principal, hub_id: str, *, added: bool = False, note: str = ""
) -> HTMLResponse:
    code = enrolment.issue_claim_code(db, hub_id, actor=principal.username)
    command = enrolment.enrol_command(code, _settings(request).public_url)
    return page(
        request,
        "hub_code.html",
        user=principal,
        hub_id=hub_id,
        code=enrolment.display_code(code),
        command=command,
        qr_svg=enrolment.qr_svg(command),
        added=added,
        note=note,
    )


@router.get("/hubs/{hub_id}", response_class=HTMLResponse)
def hub_page(request: Request, db: Db, hub_id: HubId) -> HTMLResponse:
    principal = technician(request, db)
    detail = hub_detail(db, hub_id)
    if detail is None:
        return not_found(request, f"hub {hub_id}", principal)
    audit(db, principal, "hub_viewed", hub_id, "page")
    return page(request, "hub.html", user=principal, d=detail, h=detail.hub, actions=ACTIONS)


@router.get("/hubs/{hub_id}/{action}", response_class=HTMLResponse)
def confirm_action(request: Request, db: Db, hub_id: HubId, action: Action) -> HTMLResponse:
    principal = technician(request, db)
    detail = hub_detail(db, hub_id)
    if detail is None:
        return not_found(request, f"hub {hub_id}", principal)
    return _confirm_page(request, principal, hub_id, action, 200, form={}, errors={})


def _confirm_page(
    request: Request,
    principal: Principal,
    hub_id: str,
    action: str,
    status: int,
    *,
    form: dict[str, str],
    errors: dict[str, str],
    problem: str = "",
) -> HTMLResponse:
    error_list: list[dict[str, str | None]] = [{"field": f, "text": t} for f, t in errors.items()]
    if problem:
        error_list.append({"field": None, "text": problem})
    title, explanation = ACTIONS[action]
    return page(
        request,
        "hub_action.html",
        status,
        user=principal,
        hub_id=hub_id,
        action=action,
        title=title,
        explanation=explanation,
        form=form,
        errors=errors,
        error_list=error_list,
    )


@router.post("/hubs/{hub_id}/{action}", response_model=None)
def do_action(
    request: Request,
    db: Db,
    hub_id: HubId,
    action: Action,
    confirm: Annotated[str, Form(max_length=10)] = "",
    new_hub_id: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    check_same_origin(request)
    principal = technician(request, db)
    if hub_detail(db, hub_id) is None:
        return not_found(request, f"hub {hub_id}", principal)
    new_hub_id = new_hub_id.strip().lower()
    form = {"new_hub_id": new_hub_id, "reason": reason}
    errors: dict[str, str] = {}
    if confirm != "yes":
        errors["confirm"] = f"Confirm: {ACTIONS[action][0].lower()}"
    if action == "replace" and not new_hub_id:
        errors["new_hub_id"] = "Enter the new hub's id, printed on it, for example hub-0043"
    if action == "reinstate" and not reason.strip():
        errors["reason"] = "Say why the hub is let back in"
    if errors:
        return _confirm_page(request, principal, hub_id, action, 422, form=form, errors=errors)
    actor = principal.username
    mqtt = _settings(request).mqtt
    try:
        if action == "claim-code":
            return _claim_code_page(request, db, principal, hub_id)
        if action == "bundle":
            bundle = enrolment.issue_bundle(db, mqtt, hub_id, actor=actor)
            return Response(
                bundle.to_json(),
                media_type="application/json",
                headers={
                    "Content-Disposition": f'attachment; filename="{hub_id}-bundle.json"',
                    "Cache-Control": "no-store",
                },
            )
        if action == "rotate":
            hub_lifecycle.rotate(db, mqtt.endpoint(), hub_id, actor=actor)
            note = "The old password no longer works and the hub was disconnected. Enrol it with this code."
            return _claim_code_page(request, db, principal, hub_id, note=note)
        if action == "reinstate":
            hub_lifecycle.reinstate(db, mqtt.endpoint(), hub_id, actor=actor, reason=reason)
            note = "The hub is reinstated with a new password; the old one stays refused. Enrol it with this code."
            return _claim_code_page(request, db, principal, hub_id, note=note)
        if action == "revoke":
            hub_lifecycle.revoke(db, mqtt.endpoint(), hub_id, actor=actor, reason=reason.strip())
            return RedirectResponse(f"/hubs/{hub_id}", status_code=303)
        hub_lifecycle.replace(db, mqtt.endpoint(), hub_id, new_hub_id, actor=actor)
        note = f"{new_hub_id} serves the patient from now; {hub_id} is revoked. Enrol {new_hub_id} with this code."
        return _claim_code_page(request, db, principal, new_hub_id, added=True, note=note)
    except ProvisioningError as e:
        field = "new_hub_id" if action == "replace" and new_hub_id in str(e) else None
        text = str(e)[0].upper() + str(e)[1:]
        if field:
            return _confirm_page(request, principal, hub_id, action, 422, form=form, errors={field: text})
        return _confirm_page(request, principal, hub_id, action, 409, form=form, errors={}, problem=text)
    except hub_lifecycle.IdentityRefused as e:
        problem = f"Refused, nothing was changed: {e}"
        return _confirm_page(request, principal, hub_id, action, 409, form=form, errors={}, problem=problem)
    except (hub_lifecycle.BrokerAdminError, OSError) as e:
        problem = f"The broker could not be reached, so nothing was changed: {e}"
        return _confirm_page(request, principal, hub_id, action, 503, form=form, errors={}, problem=problem)
