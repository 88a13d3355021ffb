"""A technician pairs and unpairs devices from the server; the hub's allowlist follows over
the real broker, including a hub that was off at the time, and the overview shows which
configuration each hub runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.messages import RemoteConfig
from common.wire.topics import Channel, topic
from gateway.simulator import SimulatedHub
from server.api.auth import Role, create_user
from server.hub_config import HubConfigError, deliver, pair, set_telemetry_interval, unpair
from server.mqtt_publish import publish_retained
from tests.fixtures.server import Stack, wait_for

CUFF = "00:09:1F:8A:12:34"
SCALE = "00:09:1F:8A:12:35"


def _allowlisted(hub: SimulatedHub) -> list[str]:
    hub.allowlist.refresh()
    return [d.address for d in hub.allowlist.devices()]


def test_pairing_from_the_server_reaches_the_hub_even_when_it_was_off(
    stack: Stack, server_endpoint: BrokerEndpoint
) -> None:
    tech = create_user(stack.db, "tech-cfg-1", Role.TECHNICIAN)
    hub = stack.patient_with_hub("p-cfg-1", "hub-cfg-1")
    # Given to its patient: version 1, leaving the devices to the hub (none paired there yet).
    assert deliver(stack.db, server_endpoint, "hub-cfg-1").paired_devices is None
    wait_for(lambda: hub.remote.version == 1, what="the hub applying version 1")
    with pytest.raises(HubConfigError, match="unknown device model 'and-ua-999'"):
        pair(stack.db, "hub-cfg-1", CUFF, model_id="and-ua-999", actor="tech-cfg-1")

    pair(stack.db, "hub-cfg-1", CUFF.lower(), model_id="and-ua-651ble", actor="tech-cfg-1")
    pair(stack.db, "hub-cfg-1", SCALE, model_id="and-uc-352ble", actor="tech-cfg-1")
    assert "configuration version 3 not delivered" in stack.hub_seen_by(tech, "hub-cfg-1")["attention"][0]
    sent = deliver(stack.db, server_endpoint, "hub-cfg-1")
    assert sent.version == 3
    wait_for(lambda: _allowlisted(hub) == [CUFF, SCALE], what="the hub's allowlist")
    wait_for(
        lambda: (stack.hub_seen_by(tech, "hub-cfg-1")["telemetry"] or {}).get("config_version") == 3,
        what="the hub reporting version 3",
    )
    seen = stack.hub_seen_by(tech, "hub-cfg-1")
    assert seen["attention"] == [] and seen["config_version"] == 3 and seen["devices_managed"] is True
    assert [d["address"] for d in seen["paired_devices"]] == [CUFF, SCALE]

    # The hub goes off; the cuff is unpaired meanwhile; the hub learns it on connecting.
    stack.hubs.remove(hub)
    hub.stop()
    unpair(stack.db, "hub-cfg-1", CUFF, actor="tech-cfg-1")
    deliver(stack.db, server_endpoint, "hub-cfg-1")
    back = SimulatedHub("hub-cfg-1", stack.hub_endpoint("hub-cfg-1"), stack.state_dir / "hubs")
    back.start()
    stack.hubs.append(back)
    # The allowlist file is written before the applier records the version: wait for both.
    wait_for(
        lambda: _allowlisted(back) == [SCALE] and back.remote.version == 4,
        what="the returning hub's allowlist at version 4",
    )

    set_telemetry_interval(stack.db, "hub-cfg-1", 60, actor="tech-cfg-1")
    deliver(stack.db, server_endpoint, "hub-cfg-1")
    wait_for(lambda: back.telemetry.interval_s == 60, what="the new telemetry interval")
    assert _allowlisted(back) == [SCALE]  # the device list went along unchanged


def test_a_configuration_for_another_hub_is_refused_and_shown(
    stack: Stack, server_endpoint: BrokerEndpoint
) -> None:
    tech = create_user(stack.db, "tech-cfg-2", Role.TECHNICIAN)
    hub = stack.patient_with_hub("p-cfg-2", "hub-cfg-2")
    wrong = RemoteConfig(hub_id="hub-cfg-9", version=1, issued_at=datetime.now(UTC))
    publish_retained(server_endpoint, topic("hub-cfg-2", Channel.CONFIG), wrong.to_json())
    wait_for(lambda: hub.remote.error is not None, what="the hub to refuse it")
    wait_for(
        lambda: any(
            "refused its configuration" in a for a in stack.hub_seen_by(tech, "hub-cfg-2")["attention"]
        ),
        what="the refusal in the overview",
    )
    assert _allowlisted(hub) == []
    # Leave no retained message behind for other tests on this broker.
    publish_retained(server_endpoint, topic("hub-cfg-2", Channel.CONFIG), b"")
