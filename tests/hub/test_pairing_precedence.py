"""One cuff, one patient: the server warns when a device is paired to a second hub, and a
technician pairing at a server-managed hub is told the server's list wins."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from carewatch.console import app as carewatch
from server.device_sharing import sharing_device
from server.hub_config import pair
from server.provisioning import add_hub, add_patient
from server.store.database import Database


def paired_elsewhere(db: Database, address: str, hub_id: str) -> list[str]:
    return [x.where for x in sharing_device(db, hub_id, address)]


def test_a_device_on_another_patients_hub_is_named(database: Database) -> None:
    add_patient(database, "p-pp-1", "Test patient", actor="test")
    add_hub(database, "hub-pp-1", actor="test", patient_id="p-pp-1")
    add_hub(database, "hub-pp-2", actor="test")
    pair(database, "hub-pp-1", "00:09:1f:8a:12:34", model_id="and-ua-651ble", actor="test")
    assert paired_elsewhere(database, "00:09:1F:8A:12:34", "hub-pp-2") == ["hub-pp-1 (patient p-pp-1)"]
    assert paired_elsewhere(database, "00:09:1F:8A:12:34", "hub-pp-1") == []
    assert paired_elsewhere(database, "00:09:1F:8A:99:99", "hub-pp-2") == []


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'hub_id = "hub-pp-3"\nstate_dir = "{tmp_path}"\n'
        f'[broker]\nca_file = "{tmp_path / "ca.crt"}"\npassword_file = "{tmp_path / "pw"}"\n'
    )
    return config


def test_pairing_at_a_server_managed_hub_says_the_servers_list_wins(tmp_path: Path) -> None:
    """Only where the last configuration applied listed the devices."""
    config = _config(tmp_path)
    args = ["hub", "pair", "00:09:1F:8A:12:34", "-c", str(config), "--seconds", "0", "--force"]
    own = CliRunner().invoke(carewatch, args)
    assert own.exit_code == 0, own.output
    assert "managed by the server" not in own.output
    # The server sent its patient's preferences but left the devices to the hub: no warning.
    (tmp_path / "remote-config.json").write_text(json.dumps({"version": 3, "devices_from_server": False}))
    kept = CliRunner().invoke(carewatch, args)
    assert kept.exit_code == 0, kept.output
    assert "managed by the server" not in kept.output
    (tmp_path / "remote-config.json").write_text(json.dumps({"version": 4, "devices_from_server": True}))
    managed = CliRunner().invoke(carewatch, args)
    assert managed.exit_code == 0, managed.output
    assert "managed by the server (configuration version 4)" in managed.output
    assert "carewatch server hub pair hub-pp-3 00:09:1F:8A:12:34" in managed.output
