"""The hub applying the server's configuration: newer versions only, refusals explained,
the applied version kept across restarts; real allowlist and state files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from common.wire.messages import PairedDeviceConfig, RemoteConfig
from gateway.allowlist import Allowlist
from gateway.remote_config import RemoteConfigApplier

CUFF = "00:09:1F:8A:12:34"
SCALE = "00:09:1F:8A:12:35"


def config(version: int, *addresses: str, hub_id: str = "hub-0042", interval: float | None = None) -> bytes:
    return RemoteConfig(
        hub_id=hub_id,
        version=version,
        issued_at=datetime.now(UTC),
        paired_devices=[PairedDeviceConfig(address=a, model_id="and-ua-651ble") for a in addresses],
        telemetry_interval_s=interval,
    ).to_json()


def test_newer_versions_replace_the_allowlist_and_older_ones_are_ignored(tmp_path: Path) -> None:
    allowlist = Allowlist(tmp_path / "paired-devices.json")
    allowlist.add("00:1C:05:00:00:01", model_id="nonin-3230")  # paired by hand at the hub
    intervals: list[float] = []
    changes: list[int] = []
    applier = RemoteConfigApplier(
        "hub-0042",
        allowlist,
        tmp_path / "remote-config.json",
        on_telemetry_interval=intervals.append,
        on_change=lambda: changes.append(1),
    )
    applier.handle(config(3, CUFF, SCALE, interval=60))
    assert [d.address for d in Allowlist(tmp_path / "paired-devices.json").devices()] == [CUFF, SCALE]
    assert (applier.version, applier.error, intervals) == (3, None, [60])

    applier.handle(config(2, CUFF))  # a stale retained copy must not roll the hub back
    applier.handle(config(3, CUFF))
    assert [d.address for d in allowlist.devices()] == [CUFF, SCALE]

    applier.handle(config(4, SCALE))
    assert [d.address for d in allowlist.devices()] == [SCALE]
    assert len(changes) == 4

    restarted = RemoteConfigApplier("hub-0042", allowlist, tmp_path / "remote-config.json")
    assert restarted.version == 4


def test_a_configuration_that_does_not_apply_is_refused_and_explained(tmp_path: Path) -> None:
    allowlist = Allowlist(tmp_path / "paired-devices.json")
    applier = RemoteConfigApplier("hub-0042", allowlist, tmp_path / "remote-config.json")
    applier.handle(config(1, CUFF, hub_id="hub-0099"))
    assert state(applier) == ("configuration for hub 'hub-0099' sent to 'hub-0042'", None)
    applier.handle(b'{"schema": "carewatch.hubconfig.v1", "hub_id": "hub-0042", "version": 0}')
    error, version = state(applier)
    assert error is not None and error.startswith("invalid configuration: version: ")
    assert allowlist.devices() == [] and version is None
    applier.handle(config(1, CUFF))
    assert state(applier) == (None, 1)
    assert [d.address for d in allowlist.devices()] == [CUFF]


def state(applier: RemoteConfigApplier) -> tuple[str | None, int | None]:
    return applier.error, applier.version


def test_the_patients_feedback_preferences_are_applied_and_kept_across_a_restart(tmp_path: Path) -> None:
    from common.wire.feedback_prefs import PatientFeedback, ReadingReminder
    from common.wire.vocabulary import ReadingKind

    prefs = PatientFeedback(language="cy", reminders=[ReadingReminder(kind=ReadingKind.WEIGHT, at="08:00")])
    heard: list[PatientFeedback | None] = []
    applier = RemoteConfigApplier(
        "hub-0042", Allowlist(tmp_path / "paired.json"), tmp_path / "remote-config.json"
    )
    applier.on_patient_feedback = heard.append
    message = RemoteConfig(hub_id="hub-0042", version=4, issued_at=datetime.now(UTC), patient_feedback=prefs)
    applier.handle(message.to_json())
    assert heard == [prefs] and applier.patient_feedback == prefs
    restarted = RemoteConfigApplier(
        "hub-0042", Allowlist(tmp_path / "paired.json"), tmp_path / "remote-config.json"
    )
    assert (restarted.version, restarted.patient_feedback) == (4, prefs)
    # The same version again (the retained copy at every connection) changes nothing.
    restarted.on_patient_feedback = heard.append
    restarted.handle(message.to_json())
    assert heard == [prefs]
    # A newer configuration without preferences returns the hub to its defaults.
    restarted.handle(RemoteConfig(hub_id="hub-0042", version=5, issued_at=datetime.now(UTC)).to_json())
    assert heard == [prefs, None] and restarted.patient_feedback is None


def test_a_configuration_that_leaves_the_devices_to_the_hub_keeps_its_own_list(tmp_path: Path) -> None:
    """``paired_devices`` null: the devices paired at the hub stay, the patient's preferences
    and the interval apply, and the hub remembers the server does not manage its list until a
    configuration with a list arrives."""
    from common.wire.feedback_prefs import PatientFeedback

    allowlist = Allowlist(tmp_path / "paired-devices.json")
    allowlist.add("00:1C:05:00:00:01", model_id="nonin-3230")  # paired by hand at the hub
    prefs = PatientFeedback(speak_values=False, language="cy")
    intervals: list[float] = []
    heard: list[PatientFeedback | None] = []
    applier = RemoteConfigApplier(
        "hub-0042", allowlist, tmp_path / "remote-config.json", on_telemetry_interval=intervals.append
    )
    applier.on_patient_feedback = heard.append
    keep = RemoteConfig(
        hub_id="hub-0042",
        version=1,
        issued_at=datetime.now(UTC),
        telemetry_interval_s=120,
        patient_feedback=prefs,
    )
    applier.handle(keep.to_json())
    assert [d.address for d in Allowlist(tmp_path / "paired-devices.json").devices()] == ["00:1C:05:00:00:01"]
    assert (applier.version, applier.error, intervals, heard) == (1, None, [120], [prefs])
    assert applier.devices_from_server is False
    restarted = RemoteConfigApplier("hub-0042", allowlist, tmp_path / "remote-config.json")
    assert (restarted.version, restarted.devices_from_server, restarted.patient_feedback) == (1, False, prefs)

    restarted.handle(config(2, CUFF))  # the server pairs a device: its list wins from now on
    assert [d.address for d in Allowlist(tmp_path / "paired-devices.json").devices()] == [CUFF]
    assert restarted.devices_from_server is True
    again = RemoteConfigApplier("hub-0042", allowlist, tmp_path / "remote-config.json")
    assert (again.version, again.devices_from_server) == (2, True)


def test_a_record_from_before_the_devices_flag_is_a_server_list(tmp_path: Path) -> None:
    """Every configuration applied before ``null`` existed listed the devices."""
    from gateway.remote_config import server_list_version

    record = tmp_path / "remote-config.json"
    assert server_list_version(record) == 0
    record.write_text('{"version": 4}')
    applier = RemoteConfigApplier("hub-0042", Allowlist(tmp_path / "paired.json"), record)
    assert (applier.devices_from_server, server_list_version(record)) == (True, 4)
    record.write_text('{"version": 5, "devices_from_server": false}')
    assert server_list_version(record) == 0
