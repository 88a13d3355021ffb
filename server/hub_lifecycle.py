"""A hub's identity through its life: added, re-keyed, revoked, replaced by new hardware.
The server's records and the broker change together or not at all.

Each action opens the database transaction first, makes its changes there (so a refusal,
such as a patient who does not exist, costs nothing at the broker), then changes the broker
live through the dynamic-security plugin, and commits last. A broker that refuses or cannot
be reached rolls the records back; a commit that fails after the broker changed is undone at
the broker (a new identity removed, a disabled one enabled), except for a revocation, which
stays in force at the broker: refusing a lost hub too early is the safe side.

No broker reload anywhere: a reload once lost readings the broker had acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.mqtt import BrokerEndpoint
from server.broker.admin import BrokerAdmin, BrokerAdminError
from server.broker.dynsec_file import new_password
from server.hub_config import deliver_each, patient_changed
from server.provisioning import ProvisioningError, register_hub
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment, now

log = logging.getLogger(__name__)

__all__ = ["BrokerAdminError", "Issued", "LifecycleError", "add", "replace", "revoke", "rotate"]


class LifecycleError(ProvisioningError):
    """The records refuse the change (unknown hub, already revoked, replaced, not assigned)."""


@dataclass(frozen=True)
class Issued:
    """A hub's new broker password, to hand over once (bundle, file or screen); never stored."""

    hub_id: str
    password: str


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
    issued_at_broker = False
    try:
        with db.session() as s:
            register_hub(s, hub_id, actor=actor, label=label, patient_id=patient_id)
            s.flush()  # constraint failures before the broker is touched
            if patient_id is not None:
                patient_changed(s, hub_id, actor=actor, why=f"now serves patient {patient_id}")
            with BrokerAdmin(endpoint) as admin:
                admin.add_hub(hub_id, password)
            issued_at_broker = True
            s.add(AuditEvent(actor=actor, action="hub_credentials_issued", target=hub_id))
    except ProvisioningError:
        raise
    except BrokerAdminError:
        raise
    except Exception:
        if issued_at_broker:
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


def rotate(db: Database, endpoint: BrokerEndpoint, hub_id: str, *, actor: str) -> Issued:
    """A new password; the old one is refused from now on and a session it opened is
    dropped at once, so the hub reconnects only with the new one. Lets a revoked (not
    replaced) hub in again: re-issuing is how a found hub comes back."""
    password = new_password()
    with db.session() as s:
        hub = _live_hub(s, hub_id)
        was_revoked = hub.revoked_at is not None
        hub.revoked_at = None
        s.add(
            AuditEvent(
                actor=actor,
                action="hub_credentials_rotated",
                target=hub_id,
                detail="revocation lifted" if was_revoked else "",
            )
        )
        s.flush()
        with BrokerAdmin(endpoint) as admin:
            admin.rotate_hub(hub_id, password)
    return Issued(hub_id, password)


def revoke(db: Database, endpoint: BrokerEndpoint, hub_id: str, *, actor: str, reason: str = "") -> None:
    """Refuse the hub from now on; the broker drops its live connection at once."""
    with db.session() as s:
        hub = _live_hub(s, hub_id)
        hub.revoked_at = now()
        s.add(AuditEvent(actor=actor, action="hub_revoked", target=hub_id, detail=reason))
        s.flush()
        with BrokerAdmin(endpoint) as admin:
            admin.disable(hub_id)


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
            detail = f"patient={current.patient_id} old={old_hub_id} new={new_hub_id}"
            s.add(AuditEvent(actor=actor, action="hub_replaced", target=old_hub_id, detail=detail))
            s.flush()
            patient_changed(s, new_hub_id, actor=actor, why=f"replaces {old_hub_id} for {current.patient_id}")
            with BrokerAdmin(endpoint) as admin:
                admin.add_hub(new_hub_id, password)
                steps.append("added")
                try:
                    admin.disable(old_hub_id)
                except BrokerAdminError:
                    admin.remove_hub(new_hub_id)
                    steps.clear()
                    raise
                steps.append("disabled")
            s.add(AuditEvent(actor=actor, action="hub_credentials_issued", target=new_hub_id))
    except (ProvisioningError, BrokerAdminError):
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
    except BrokerAdminError as e:
        log.error("the records did not commit and the broker could not be put back (%s): %s", what, e)
