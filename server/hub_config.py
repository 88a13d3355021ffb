"""A hub's configuration as the server keeps it: technicians pair and unpair devices here,
and the whole list goes to the hub as one retained, versioned message.

Every change bumps the version and is audited in the same transaction; delivery is a
separate step (``deliver``), so a change made while the broker is down is kept and sent
later (``carewatch server hub push``), and the hub overview says which version is waiting.

The configuration also carries what the hub says to its patient: the preferences of the
patient the hub serves now (``Patient.feedback``), and its telemetry interval. Precedence, so
that preferences never unpair a device: until a device is paired (or unpaired) on the server,
the server does not manage the hub's devices (``Hub.devices_managed`` false) and its
configurations say so (``paired_devices`` null): the hub keeps the devices a technician paired
at it and applies the rest. The first pairing on the server makes the server's list the hub's
whole list, for good. Either way every change to the patient's preferences, and every change
of the patient a hub serves (given, swapped, replaced, discharged), is a new version
(``patient_changed``), delivered like a technician's change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from common.mqtt import BrokerEndpoint
from common.wire.addresses import InvalidAddress, normalize_address
from common.wire.feedback_prefs import PatientFeedback
from common.wire.messages import MAX_DEVICES_PER_HUB, PairedDeviceConfig, RemoteConfig
from common.wire.topics import Channel, topic
from gateway.catalogue.errors import CatalogueError
from gateway.catalogue.loader import load_catalogue
from server.mqtt_publish import NotDelivered, publish_retained
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment, Patient, now

log = logging.getLogger(__name__)

__all__ = [
    "HubConfigError",
    "NotDelivered",
    "deliver",
    "deliver_each",
    "desired",
    "devices_managed",
    "pair",
    "patient_changed",
    "set_telemetry_interval",
    "unpair",
]


class HubConfigError(ValueError):
    """The change cannot be made (unknown hub, bad address, unknown model, too many devices)."""


def configured_devices(hub: Hub) -> list[PairedDeviceConfig]:
    """The devices the server has paired to ``hub`` (what its next configuration lists)."""
    return [PairedDeviceConfig.model_validate(d) for d in hub.paired_devices or []]


def stored_feedback(patient: Patient) -> PatientFeedback | None:
    """The patient's stored preferences (None: the hub's defaults). A stored value that no
    longer validates is logged and sent as the defaults rather than stopping the hub's
    configuration (its devices) from being delivered."""
    if patient.feedback is None:
        return None
    try:
        return PatientFeedback.model_validate(patient.feedback)
    except ValidationError as e:
        log.error("patient %s: stored feedback preferences ignored: %s", patient.id, e)
        return None


def serving(s: Session, hub_id: str) -> Patient | None:
    """The patient the hub serves now (its open assignment), if any."""
    return s.scalars(
        select(Patient)
        .join(HubAssignment, HubAssignment.patient_id == Patient.id)
        .where(HubAssignment.hub_id == hub_id, HubAssignment.end_at.is_(None))
        .order_by(HubAssignment.start_at.desc())
        .limit(1)
    ).first()


def _message(hub: Hub) -> RemoteConfig:
    s = object_session(hub)
    patient = None if s is None else serving(s, hub.id)
    return RemoteConfig(
        hub_id=hub.id,
        version=hub.config_version,
        issued_at=now(),
        paired_devices=configured_devices(hub) if hub.devices_managed else None,
        telemetry_interval_s=hub.telemetry_interval_s,
        patient_feedback=None if patient is None else stored_feedback(patient),
    )


def desired(db: Database, hub_id: str) -> RemoteConfig:
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise HubConfigError(f"no hub {hub_id!r}")
        if hub.config_version == 0:
            raise HubConfigError(f"hub {hub_id!r} has no configuration on the server yet; nothing to send")
        return _message(hub)


def devices_managed(db: Database, hub_id: str) -> bool:
    """Whether the server's device list is the hub's list (else the hub keeps its own)."""
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise HubConfigError(f"no hub {hub_id!r}")
        return hub.devices_managed


def _known_model(model_id: str | None) -> None:
    if model_id is None:
        return
    try:
        catalogue = load_catalogue()
    except CatalogueError as e:
        raise HubConfigError(f"cannot check the model against the device catalogue: {e}") from None
    if model_id not in catalogue:
        known = ", ".join(sorted(m.id for m in catalogue))
        raise HubConfigError(f"unknown device model {model_id!r}; the catalogue has: {known}")


def _change(
    db: Database,
    hub_id: str,
    actor: str,
    action: str,
    detail: str,
    edit: Callable[[Hub], None],
    *,
    devices: bool = False,
) -> RemoteConfig:
    """One audited change to a hub's configuration, and its new version, in one transaction
    (an ``edit`` that raises ``HubConfigError`` leaves nothing changed). A change to the
    ``devices`` makes the server manage them from now on, said in the same audit record."""
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise HubConfigError(f"no hub {hub_id!r}")
        edit(hub)
        if devices and not hub.devices_managed:
            hub.devices_managed = True
            detail += "; the server's device list is the hub's list from now on"
        if len(hub.paired_devices or []) > MAX_DEVICES_PER_HUB:
            raise HubConfigError(f"a hub takes at most {MAX_DEVICES_PER_HUB} devices")
        _bump(s, hub, actor, action, detail)
        return _message(hub)


def _bump(s: Session, hub: Hub, actor: str, action: str, detail: str) -> None:
    hub.config_version += 1
    s.add(
        AuditEvent(
            actor=actor, action=action, target=hub.id, detail=f"{detail} (config v{hub.config_version})"
        )
    )
    s.flush()


def patient_changed(s: Session, hub_id: str, *, actor: str, why: str) -> bool:
    """In the caller's transaction: the hub's patient, or that patient's preferences, changed,
    so its configuration is a new version (audited), with the server's device list or, for a
    hub whose devices were paired at the hub, none (see the module's precedence). False when
    nothing is to be sent: a revoked hub. The caller delivers after committing
    (``deliver_each``)."""
    hub = s.get(Hub, hub_id)
    if hub is None or hub.revoked_at is not None:
        return False
    _bump(s, hub, actor, "hub_patient_settings_changed", why)
    return True


def _address(address: str) -> str:
    try:
        return normalize_address(address)
    except InvalidAddress as e:
        raise HubConfigError(str(e)) from None


def pair(
    db: Database,
    hub_id: str,
    address: str,
    *,
    model_id: str | None,
    actor: str,
    user_index: int | None = None,
) -> RemoteConfig:
    """Pair a device to the hub. ``user_index``: the patient's user slot on a shared device
    (see ``PairedDeviceConfig.user_index``); None when the device is the patient's alone."""
    key = _address(address)
    _known_model(model_id)
    try:
        entry = PairedDeviceConfig(address=key, model_id=model_id, user_index=user_index).model_dump(
            exclude_none=True
        )
    except ValidationError:
        raise HubConfigError(f"user slot must be 0 to 254, as the device reports it: {user_index}") from None

    def edit(hub: Hub) -> None:
        hub.paired_devices = [d for d in hub.paired_devices or [] if d["address"] != key] + [entry]

    return _change(
        db,
        hub_id,
        actor,
        "device_paired",
        f"{key} {model_id or '(model from its advertisement)'}"
        + (f" user {user_index}" if user_index is not None else ""),
        edit,
        devices=True,
    )


def set_telemetry_interval(db: Database, hub_id: str, seconds: float, *, actor: str) -> RemoteConfig:
    """How often the hub reports its health (10 s to a day)."""
    if not 10 <= seconds <= 86400:
        raise HubConfigError("the telemetry interval must be between 10 and 86400 seconds")

    def edit(hub: Hub) -> None:
        hub.telemetry_interval_s = seconds

    return _change(db, hub_id, actor, "hub_telemetry_interval_set", f"{seconds:g} s", edit)


def unpair(db: Database, hub_id: str, address: str, *, actor: str) -> RemoteConfig:
    key = _address(address)

    def edit(hub: Hub) -> None:
        devices = hub.paired_devices or []
        if not hub.devices_managed:
            raise HubConfigError(
                f"the server has no device list for hub {hub_id!r}: its devices were paired at the "
                f"hub; unpair {key} there (carewatch hub unpair {key})"
            )
        if not any(d["address"] == key for d in devices):
            raise HubConfigError(f"{key} is not paired to hub {hub_id!r}")
        hub.paired_devices = [d for d in devices if d["address"] != key]

    return _change(db, hub_id, actor, "device_unpaired", key, edit, devices=True)


def deliver_each(
    db: Database, endpoint: BrokerEndpoint | Callable[[], BrokerEndpoint], hub_ids: Iterable[str]
) -> dict[str, str | None]:
    """Deliver each hub's configuration after a change to its patient; per hub, None when
    delivered or why not (the change is kept either way: ``carewatch server hub push``).
    ``endpoint`` may be the settings' ``mqtt.endpoint``, called only when there is something
    to send (it reads the server's MQTT password file)."""
    out: dict[str, str | None] = {}
    for hub_id in hub_ids:
        try:
            deliver(db, endpoint if isinstance(endpoint, BrokerEndpoint) else endpoint(), hub_id)
            out[hub_id] = None
        except (HubConfigError, NotDelivered, OSError) as e:  # OSError: the MQTT password file
            log.warning("configuration of hub %s kept, not delivered: %s", hub_id, e)
            out[hub_id] = str(e)
    return out


def deliver(db: Database, endpoint: BrokerEndpoint, hub_id: str) -> RemoteConfig:
    """Publish the hub's current configuration, retained; raises ``NotDelivered``."""
    message = desired(db, hub_id)
    publish_retained(endpoint, topic(hub_id, Channel.CONFIG), message.to_json())
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        assert hub is not None
        hub.config_delivered_version = max(hub.config_delivered_version, message.version)
    return message
