"""A hub's configuration as the server keeps it: technicians pair and unpair devices here,
and the whole list goes to the hub as one retained, versioned message.

Every change bumps the version and is audited in the same transaction; delivery is a
separate step (``deliver``), so a change made while the broker is down is kept and sent
later (``carewatch server hub push``), and the hub overview says which version is waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from common.mqtt import BrokerEndpoint
from common.wire.addresses import InvalidAddress, normalize_address
from common.wire.messages import MAX_DEVICES_PER_HUB, PairedDeviceConfig, RemoteConfig
from common.wire.topics import Channel, topic
from gateway.catalogue.errors import CatalogueError
from gateway.catalogue.loader import load_catalogue
from server.mqtt_publish import NotDelivered, publish_retained
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment, now

__all__ = ["HubConfigError", "NotDelivered", "deliver", "desired", "pair", "set_telemetry_interval", "unpair"]


class HubConfigError(ValueError):
    """The change cannot be made (unknown hub, bad address, unknown model, too many devices)."""


def configured_devices(hub: Hub) -> list[PairedDeviceConfig]:
    """The devices the server has paired to ``hub`` (what its next configuration lists)."""
    return [PairedDeviceConfig.model_validate(d) for d in hub.paired_devices or []]


def _message(hub: Hub) -> RemoteConfig:
    return RemoteConfig(
        hub_id=hub.id,
        version=hub.config_version,
        issued_at=now(),
        paired_devices=configured_devices(hub),
        telemetry_interval_s=hub.telemetry_interval_s,
    )


def desired(db: Database, hub_id: str) -> RemoteConfig:
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise HubConfigError(f"no hub {hub_id!r}")
        if hub.config_version == 0:
            # Sending an empty list would unpair whatever a technician paired at the hub.
            raise HubConfigError(
                f"hub {hub_id!r} has no configuration on the server yet; pair a device first"
            )
        return _message(hub)


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
    db: Database, hub_id: str, actor: str, action: str, detail: str, edit: Callable[[Hub], None]
) -> RemoteConfig:
    """One audited change to a hub's configuration, and its new version, in one transaction
    (an ``edit`` that raises ``HubConfigError`` leaves nothing changed)."""
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise HubConfigError(f"no hub {hub_id!r}")
        edit(hub)
        if len(hub.paired_devices or []) > MAX_DEVICES_PER_HUB:
            raise HubConfigError(f"a hub takes at most {MAX_DEVICES_PER_HUB} devices")
        hub.config_version += 1
        s.add(
            AuditEvent(
                actor=actor, action=action, target=hub_id, detail=f"{detail} (config v{hub.config_version})"
            )
        )
        s.flush()
        return _message(hub)


def _address(address: str) -> str:
    try:
        return normalize_address(address)
    except InvalidAddress as e:
        raise HubConfigError(str(e)) from None


def pair(db: Database, hub_id: str, address: str, *, model_id: str | None, actor: str) -> RemoteConfig:
    key = _address(address)
    _known_model(model_id)
    entry = PairedDeviceConfig(address=key, model_id=model_id).model_dump(exclude_none=True)

    def edit(hub: Hub) -> None:
        hub.paired_devices = [d for d in hub.paired_devices or [] if d["address"] != key] + [entry]

    return _change(
        db, hub_id, actor, "device_paired", f"{key} {model_id or '(model from its advertisement)'}", edit
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
        if not any(d["address"] == key for d in devices):
            raise HubConfigError(f"{key} is not paired to hub {hub_id!r}")
        hub.paired_devices = [d for d in devices if d["address"] != key]

    return _change(db, hub_id, actor, "device_unpaired", key, edit)


def paired_elsewhere(db: Database, address: str, hub_id: str) -> list[str]:
    """Other hubs in service whose server list has this device, with the patient each serves
    now: one cuff on two patients' hubs puts one patient's readings in the other's record
    (whichever hub hears it first takes the reading)."""
    key = _address(address)
    with db.session() as s:
        serving = dict(
            s.execute(
                select(HubAssignment.hub_id, HubAssignment.patient_id).where(HubAssignment.end_at.is_(None))
            ).all()
        )
        found = []
        for hub in s.scalars(select(Hub).where(Hub.id != hub_id, Hub.revoked_at.is_(None)).order_by(Hub.id)):
            if any(d.get("address") == key for d in hub.paired_devices or []):
                patient = serving.get(hub.id)
                found.append(f"{hub.id} (patient {patient})" if patient else hub.id)
        return found


def deliver(db: Database, endpoint: BrokerEndpoint, hub_id: str) -> RemoteConfig:
    """Publish the hub's current configuration, retained; raises ``NotDelivered``."""
    message = desired(db, hub_id)
    publish_retained(endpoint, topic(hub_id, Channel.CONFIG), message.to_json())
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        assert hub is not None
        hub.config_delivered_version = max(hub.config_delivered_version, message.version)
    return message
