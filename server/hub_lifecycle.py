"""A hub's identity through its life: added, re-keyed, revoked, reinstated, replaced by new
hardware, and shut out when an enrolment bundle lapses unused. The server's records and the
broker change together or not at all.

Each action takes the order whose failure can be put right. Adding, revoking, reinstating and
replacing open the database transaction first, make their changes there (so a refusal, such
as a patient who does not exist, costs nothing at the broker), then change the broker live
through the dynamic-security plugin, and commit last: a broker that refuses rolls the records
back, and a commit that fails after the broker changed is undone at the broker (a new
identity removed, a reinstated one disabled again), except for a revocation, which stays in
force at the broker: refusing a lost hub too early is the safe side. A new password cannot be
undone at the broker (the old one is not kept anywhere to put back), so a rotation commits its
records first and changes the broker last; a broker that refuses it leaves the old password
working and the records put back, with the failure audited.

A revoked hub comes back only through ``reinstate``, with a reason: no rotation, bundle or
claim code lifts a revocation by the way, and revoking expires every claim code and bundle
the hub had not used yet.

No broker reload anywhere: a reload once lost readings the broker had acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.mqtt import BrokerEndpoint
from server.broker.admin import BrokerAdmin, BrokerAdminError, IdentityRefused
from server.broker.dynsec_file import new_password
from server.hub_config import deliver_each, patient_changed
from server.provisioning import ProvisioningError, register_hub
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment, HubClaimCode, now

log = logging.getLogger(__name__)

__all__ = [
    "BrokerAdminError",
    "HubRevoked",
    "IdentityRefused",
    "Issued",
    "LifecycleError",
    "add",
    "lapse_unused_bundles",
    "reinstate",
    "replace",
    "revoke",
    "rotate",
]


class LifecycleError(ProvisioningError):
    """The records refuse the change (unknown hub, already revoked, replaced, not assigned)."""


class HubRevoked(LifecycleError):
    """The hub is revoked: no new password, bundle or claim code lets it in again by the way;
    only ``reinstate``, with a reason, does."""


@dataclass(frozen=True)
class Issued:
    """A hub's new broker password, to hand over once (bundle, file or screen); never stored."""

    hub_id: str
    password: str
    issued_at: datetime | None = None
    expires_at: datetime | None = None  # for a bundle: when the ticker shuts the hub out if unused


def add(
    db: Database,
    endpoint: BrokerEndpoint,
    hub_id: str,
    *,
    actor: str,
    patient_id: str | None = None,
    label: str = "",
) -> Issued:
    """Register a hub, assign it if asked, and let it in at the broker: all of it or nothing.
    A hub given to a patient gets their preferences in its first configuration (its devices
    left to it: ``hub_config``'s precedence), retained for it to find when it connects."""
    password = new_password()
    at_broker = False
    try:
        with db.session() as s:
            register_hub(s, hub_id, actor=actor, label=label, patient_id=patient_id)
            s.flush()  # constraint failures before the broker is touched
            if patient_id is not None:
                patient_changed(s, hub_id, actor=actor, why=f"now serves patient {patient_id}")
                s.flush()
            with BrokerAdmin(endpoint) as admin:
                at_broker = True  # from here a refusal half-way may have left a role or a client
                admin.add_hub(hub_id, password)
            s.add(AuditEvent(actor=actor, action="hub_credentials_issued", target=hub_id))
    except (ProvisioningError, IdentityRefused):
        raise  # refused before anything changed at the broker
    except Exception:
        if at_broker:
            _undo(endpoint, lambda a: a.remove_hub(hub_id), f"remove the identity of {hub_id}")
        raise
    deliver_each(db, endpoint, [hub_id] if patient_id is not None else [])
    return Issued(hub_id, password)


def _live_hub(s: Session, hub_id: str) -> Hub:
    hub = s.get(Hub, hub_id)
    if hub is None:
        raise LifecycleError(f"no hub {hub_id!r}")
    if hub.replaced_by:
        raise LifecycleError(f"hub {hub_id!r} was replaced by {hub.replaced_by!r} and cannot connect again")
    return hub


def not_revoked(hub: Hub) -> None:
    if hub.revoked_at is not None:
        raise HubRevoked(
            f"hub {hub.id!r} was revoked at {hub.revoked_at:%Y-%m-%d %H:%M} UTC; to let it back in, "
            f"reinstate it with a reason (carewatch server hub reinstate {hub.id} --reason …)"
        )


def rotate(
    db: Database,
    endpoint: BrokerEndpoint,
    hub_id: str,
    *,
    actor: str,
    bundle_life: timedelta | None = None,
) -> Issued:
    """A new password; the old one is refused from now on and a session it opened is
    dropped at once, so the hub reconnects only with the new one. With ``bundle_life`` the
    password goes into an enrolment bundle, recorded with its expiry (the ticker shuts the
    hub out if it has not connected by then). A revoked hub is refused (``reinstate``).

    The records commit first and the broker changes last: a failed commit leaves the broker,
    and so the old password, untouched; a refused broker puts the records back (audited)."""
    password = new_password()
    at = now()
    expires = at + bundle_life if bundle_life is not None else None
    with db.session() as s:
        hub = _live_hub(s, hub_id)
        not_revoked(hub)
        before = (hub.bundle_issued_at, hub.bundle_expires_at, hub.bundle_lapsed_at)
        hub.bundle_issued_at = at if expires else None
        hub.bundle_expires_at = expires
        hub.bundle_lapsed_at = None
        s.add(AuditEvent(actor=actor, action="hub_credentials_rotated", target=hub_id))
        if expires is not None:
            s.add(
                AuditEvent(
                    actor=actor,
                    action="hub_bundle_issued",
                    target=hub_id,
                    detail=f"expires {expires.isoformat()}",
                )
            )
    try:
        with BrokerAdmin(endpoint) as admin:
            admin.rotate_hub(hub_id, password)
            _still_revoked_stays_out(db, admin, hub_id)
    except BrokerAdminError as e:
        _put_back(db, hub_id, before, actor=actor, error=e)
        raise
    return Issued(hub_id, password, at, expires)


def _still_revoked_stays_out(db: Database, admin: BrokerAdmin, hub_id: str) -> None:
    """A revocation that committed while this rotation was on its way to the broker wins:
    the rotation enabled the client again, so it is disabled once more."""
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is not None and hub.revoked_at is not None:
            admin.disable(hub_id)


def _put_back(
    db: Database,
    hub_id: str,
    before: tuple[datetime | None, datetime | None, datetime | None],
    *,
    actor: str,
    error: Exception,
) -> None:
    """The broker refused a rotation whose records had committed: the records go back to
    what they said (the old password still works), and the failure is kept in the trail."""
    try:
        with db.session() as s:
            hub = s.get(Hub, hub_id)
            if hub is not None:
                hub.bundle_issued_at, hub.bundle_expires_at, hub.bundle_lapsed_at = before
            s.add(
                AuditEvent(
                    actor=actor,
                    action="hub_credentials_rotation_failed",
                    target=hub_id,
                    detail=f"the broker refused; the old password still works: {str(error)[:300]}",
                )
            )
    except Exception:
        log.exception("the broker refused rotating %s and its records could not be put back", hub_id)


def _expire_enrolment(s: Session, hub: Hub, at: datetime, *, actor: str) -> None:
    """Every claim code the hub has not used stops working, and so does an unused bundle: a
    code copied off a technician's notes must not let a revoked hub back in."""
    codes = list(
        s.scalars(
            select(HubClaimCode).where(
                HubClaimCode.hub_id == hub.id, HubClaimCode.claimed_at.is_(None), HubClaimCode.expires_at > at
            )
        )
    )
    for code in codes:
        code.expires_at = at
    bundle = hub.bundle_expires_at is not None and hub.bundle_expires_at > at
    if bundle:
        hub.bundle_expires_at = at
    if codes or bundle:
        what = [f"{len(codes)} unused claim code(s)"] if codes else []
        what += (
            ["the enrolment bundle issued " + f"{hub.bundle_issued_at:%Y-%m-%d %H:%M} UTC"] if bundle else []
        )
        s.add(
            AuditEvent(actor=actor, action="hub_enrolment_expired", target=hub.id, detail=" and ".join(what))
        )


def revoke(db: Database, endpoint: BrokerEndpoint, hub_id: str, *, actor: str, reason: str = "") -> None:
    """Refuse the hub from now on; the broker drops its live connection at once. Its unused
    claim codes and bundle expire with it."""
    with db.session() as s:
        hub = _live_hub(s, hub_id)
        at = now()
        hub.revoked_at = at
        s.add(AuditEvent(actor=actor, action="hub_revoked", target=hub_id, detail=reason))
        _expire_enrolment(s, hub, at, actor=actor)
        s.flush()
        with BrokerAdmin(endpoint) as admin:
            admin.disable(hub_id)


def reinstate(db: Database, endpoint: BrokerEndpoint, hub_id: str, *, actor: str, reason: str) -> Issued:
    """Let a revoked (not replaced) hub back in, with a new password: the one it had before
    is never let in again (it may be what was lost). The reason is kept in the record.
    Records first, then the broker, commit last; a commit that fails disables it again."""
    reason = reason.strip()
    if not reason:
        raise LifecycleError("say why the hub is let back in (a reason): it is kept in the record")
    password = new_password()
    at_broker = False
    try:
        with db.session() as s:
            hub = _live_hub(s, hub_id)
            if hub.revoked_at is None:
                raise LifecycleError(f"hub {hub_id!r} is not revoked; `hub rotate` gives it a new password")
            was = hub.revoked_at
            hub.revoked_at = None
            hub.bundle_issued_at = hub.bundle_expires_at = hub.bundle_lapsed_at = None
            s.add(
                AuditEvent(
                    actor=actor,
                    action="hub_reinstated",
                    target=hub_id,
                    detail=f"{reason} (revoked {was.isoformat()}; a new password issued)",
                )
            )
            s.flush()
            with BrokerAdmin(endpoint) as admin:
                at_broker = True
                admin.rotate_hub(hub_id, password)
            s.add(
                AuditEvent(actor=actor, action="hub_credentials_issued", target=hub_id, detail="reinstated")
            )
    except (ProvisioningError, IdentityRefused):
        raise
    except Exception:
        if at_broker:
            _undo(endpoint, lambda a: a.disable(hub_id), f"disable {hub_id} again")
        raise
    return Issued(hub_id, password, now())


def _connected_since(hub: Hub, since: datetime) -> bool:
    """Whether the hub has been heard from since ``since``: it said it was online, reported its
    health or sent readings (any of which needs a working password)."""
    online = hub.status == "online" and hub.status_at is not None and hub.status_at > since
    return online or any(t is not None and t > since for t in (hub.telemetry_at, hub.last_seen_at))


def lapse_unused_bundles(db: Database, endpoint: Callable[[], BrokerEndpoint], at: datetime) -> list[str]:
    """The ticker's step: a hub whose enrolment bundle expired before the hub ever connected
    with it is disabled at the broker (a bundle lost in the post or on a desk stops being a
    working password), audited; a new bundle or claim code lets it in. A hub that did connect
    just has its bundle marked used. Returns the hubs shut out."""
    with db.session() as s:
        due = list(
            s.execute(
                select(Hub.id, Hub.bundle_issued_at).where(
                    Hub.bundle_expires_at <= at,
                    Hub.bundle_issued_at.is_not(None),
                    Hub.bundle_lapsed_at.is_(None),
                    Hub.revoked_at.is_(None),
                )
            ).all()
        )
    lapsed = []
    for hub_id, issued in due:
        with db.session() as s:
            hub = s.get(Hub, hub_id)
            if hub is None or issued is None or hub.bundle_issued_at != issued:
                continue  # re-keyed meanwhile
            if _connected_since(hub, issued):
                hub.bundle_expires_at = None  # used: nothing outstanding
                continue
            # Only if nothing re-keyed or revoked it since it was read (a rotation commits first).
            claimed = s.execute(
                update(Hub)
                .where(
                    Hub.id == hub_id,
                    Hub.bundle_issued_at == issued,
                    Hub.bundle_lapsed_at.is_(None),
                    Hub.revoked_at.is_(None),
                )
                .values(bundle_lapsed_at=at)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue
            expires = hub.bundle_expires_at
            s.add(
                AuditEvent(
                    actor="ticker",
                    action="hub_bundle_lapsed",
                    target=hub_id,
                    detail=(
                        f"the enrolment bundle issued {issued:%Y-%m-%d %H:%M} UTC expired "
                        f"{expires:%Y-%m-%d %H:%M} UTC before the hub connected: the broker refuses "
                        "it until it is given a new bundle or claim code"
                        if expires
                        else "the enrolment bundle expired before the hub connected"
                    ),
                )
            )
            s.flush()
            with BrokerAdmin(endpoint()) as admin:
                admin.disable(hub_id)
        log.warning("hub %s: its enrolment bundle expired unused; disabled at the broker", hub_id)
        lapsed.append(hub_id)
    return lapsed


def replace(
    db: Database, endpoint: BrokerEndpoint, old_hub_id: str, new_hub_id: str, *, actor: str
) -> Issued:
    """New hardware for the same patient: the new hub serves them from now, with the old
    one's paired devices; the old one is revoked and its assignment ends now. Readings the
    old hub took stay the patient's (attribution follows the assignment in force when a
    reading was taken)."""
    password = new_password()
    steps: list[str] = []
    try:
        with db.session() as s:
            old = _live_hub(s, old_hub_id)
            if old.revoked_at is not None:
                raise LifecycleError(
                    f"hub {old_hub_id!r} is revoked; add the new hub for the patient instead"
                )
            current = s.scalars(
                select(HubAssignment).where(
                    HubAssignment.hub_id == old_hub_id, HubAssignment.end_at.is_(None)
                )
            ).first()
            if current is None:
                raise LifecycleError(f"hub {old_hub_id!r} serves no patient now; add the new hub instead")
            at = now()
            if current.start_at >= at:
                raise LifecycleError(
                    f"hub {old_hub_id!r} starts serving its patient later; cannot replace it now"
                )
            new = register_hub(s, new_hub_id, actor=actor, patient_id=current.patient_id, at=at)
            current.end_at = at
            # The old hub's settings: its device list if the server managed it (else the
            # devices are paired at the new hub, as they were at the old one).
            new.devices_managed = old.devices_managed
            new.paired_devices = list(old.paired_devices or []) if old.devices_managed else None
            new.telemetry_interval_s = old.telemetry_interval_s
            old.revoked_at = at
            old.replaced_by = new_hub_id
            _expire_enrolment(s, old, at, actor=actor)
            detail = f"patient={current.patient_id} old={old_hub_id} new={new_hub_id}"
            s.add(AuditEvent(actor=actor, action="hub_replaced", target=old_hub_id, detail=detail))
            s.flush()
            patient_changed(s, new_hub_id, actor=actor, why=f"replaces {old_hub_id} for {current.patient_id}")
            with BrokerAdmin(endpoint) as admin:
                steps.append("added")  # from here the new identity may exist, in part
                admin.add_hub(new_hub_id, password)
                admin.disable(old_hub_id)
                steps.append("disabled")
            s.add(AuditEvent(actor=actor, action="hub_credentials_issued", target=new_hub_id))
    except ProvisioningError:
        raise
    except Exception:
        if "added" in steps:
            _undo(endpoint, lambda a: a.remove_hub(new_hub_id), f"remove the identity of {new_hub_id}")
        if "disabled" in steps:
            _undo(endpoint, lambda a: a.enable(old_hub_id), f"enable {old_hub_id} again")
        raise
    # The new hub's configuration (the old one's devices and the patient's preferences), retained
    # for it to find when it first connects; kept for ``hub push`` if the broker refuses now.
    deliver_each(db, endpoint, [new_hub_id])
    return Issued(new_hub_id, password)


def _undo(endpoint: BrokerEndpoint, step: Callable[[BrokerAdmin], None], what: str) -> None:
    """Best effort: the records did not commit, so the broker goes back as it was."""
    try:
        with BrokerAdmin(endpoint) as admin:
            step(admin)
    except IdentityRefused:
        return  # not a hub's: nothing of it was touched
    except BrokerAdminError as e:
        log.error("the records did not commit and the broker could not be put back (%s): %s", what, e)
