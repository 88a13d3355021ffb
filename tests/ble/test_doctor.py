"""``carewatch hub doctor`` as a technician runs it, on broken set-ups built from real parts:
a D-Bus socket that is not there, a real dbus-daemon with no bluetoothd on it, the emulated
BlueZ (bluezoo) with no adapter, an NTP flag file that is absent, the real Mosquitto with a
wrong password; and the all-good case on the emulated BlueZ and the real broker.

The clock source is the one thing configured rather than broken for real: a test cannot
unsynchronise the machine's clock, so ``clock_sync_flag`` points at a file this test creates
or leaves out, read by the check's own logic (systemd-timesyncd's semantics).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from tests.ble.stack import LAUNCHER, EmulatedBluez, dbus_daemon_path

pytestmark = pytest.mark.ble


def write_config(
    tmp_path: Path,
    *,
    endpoint: BrokerEndpoint | None = None,
    password: str | None = None,
    synced: bool = True,
) -> Path:
    """A hub.toml; the clock flag exists when ``synced``; ``password`` overrides the endpoint's."""
    (tmp_path / "timesync").mkdir(exist_ok=True)
    if synced:
        (tmp_path / "timesync" / "synchronized").touch()
    secret = tmp_path / "mqtt-password"
    secret.write_text(password if password is not None else endpoint.password if endpoint else "unused")
    secret.chmod(0o600)
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""hub_id = "{endpoint.username if endpoint else "hub-doctor"}"
state_dir = "{tmp_path / "state"}"
adapter = "hci0"
clock_sync_flag = "{tmp_path / "timesync" / "synchronized"}"

[broker]
host = "localhost"
port = {endpoint.port if endpoint else 1}
ca_file = "{endpoint.ca_file if endpoint else tmp_path / "missing-ca.crt"}"
password_file = "{secret}"
"""
    )
    return config


def doctor(config: Path, *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "carewatch", "hub", "doctor", "-c", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def checks_of(config: Path) -> tuple[int, dict[str, dict[str, str]]]:
    code, out = doctor(config, "--json")
    report = json.loads(out)
    assert report["ok"] is (code == 0)
    return code, {c["name"]: c for c in report["checks"]}


class Processes:
    """Processes a test starts, stopped by PID (never by name: the machine is shared)."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with log.open("wb") as out:
            self.running.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env))

    def stop(self) -> None:
        for proc in reversed(self.running):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop()


def bare_bus(directory: Path, processes: Processes) -> str:
    """A real dbus-daemon with nothing on it (no bluetoothd): its address."""
    daemon = dbus_daemon_path()
    if daemon is None:
        pytest.skip("dbus-daemon not installed (apt-get install -y dbus)")
    socket = directory / "bus.sock"
    processes.start([daemon, "--session", "--nofork", f"--address=unix:path={socket}"], directory / "bus.log")
    deadline = time.monotonic() + 5
    while not socket.exists():
        assert time.monotonic() < deadline, "dbus-daemon did not start"
        time.sleep(0.02)
    return f"unix:path={socket}"


def test_no_dbus_names_the_missing_socket_and_how_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-bus'}")
    code, out = doctor(write_config(tmp_path))
    assert code == 1
    assert f"FAILED   dbus          no system D-Bus socket at {tmp_path / 'no-such-bus'}" in out
    assert "what to do: Start the system message bus: 'systemctl start dbus'" in out
    assert "-        bluetoothd    not checked: the system D-Bus is not reachable" in out
    assert "Errno" not in out


def test_no_bluetoothd_on_a_real_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: Processes
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bare_bus(tmp_path, processes))
    code, checks = checks_of(write_config(tmp_path))
    assert code == 1
    assert checks["dbus"]["status"] == "ok"
    assert checks["bluetoothd"]["status"] == "failed"
    assert checks["bluetoothd"]["summary"] == "bluetoothd is not running (no 'org.bluez' on the system D-Bus)"
    assert "systemctl enable --now bluetooth" in checks["bluetoothd"]["fix"]
    assert checks["adapter"]["status"] == "skipped"


def test_no_adapter_on_the_emulated_bluez(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: Processes
) -> None:
    """bluezoo started with no adapter at all: bluetoothd answers, and has nothing to offer."""
    address = bare_bus(tmp_path, processes)
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    processes.start([sys.executable, str(LAUNCHER), "--auto-enable"], tmp_path / "bluezoo.log", env)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    config = write_config(tmp_path)
    deadline = time.monotonic() + 10
    while (checks := checks_of(config)[1])["bluetoothd"]["status"] != "ok":
        assert time.monotonic() < deadline, checks
    code, out = doctor(config)
    assert code == 1
    assert "FAILED   adapter       Bluetooth adapter hci0 missing" in out
    assert "what to do: Plug in the Bluetooth adapter" in out


def test_an_adapter_name_that_is_not_there_lists_the_ones_that_are(
    tmp_path: Path, bluez: EmulatedBluez
) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('adapter = "hci0"', 'adapter = "hci99"'))
    code, checks = checks_of(config)
    assert code == 1
    assert checks["adapter"]["summary"].startswith(
        "Bluetooth adapter hci99 missing; the adapters present are hci0"
    )
    assert checks["adapter"]["fix"].startswith("Set 'adapter' in hub.toml to one of hci0, hci1")


def test_clock_not_synchronised(
    tmp_path: Path, bluez: EmulatedBluez, hub_endpoint: Callable[[str], BrokerEndpoint]
) -> None:
    config = write_config(tmp_path, endpoint=hub_endpoint("hub-doctor-clock"), synced=False)
    code, out = doctor(config)
    assert code == 1
    assert (
        "FAILED   clock         clock not synchronised (systemd-timesyncd has not reached a time server)"
        in out
    )
    assert "timedatectl set-ntp true" in out
    (tmp_path / "timesync" / "synchronized").touch()  # timesyncd reached a server
    code, checks = checks_of(config)
    assert code == 0, checks
    assert checks["clock"]["summary"].startswith("clock synchronised (systemd-timesyncd, since ")


def test_wrong_password_is_refused_by_the_real_broker(
    tmp_path: Path, bluez: EmulatedBluez, hub_endpoint: Callable[[str], BrokerEndpoint]
) -> None:
    config = write_config(tmp_path, endpoint=hub_endpoint("hub-doctor-wrong"), password="not-the-password")
    code, out = doctor(config)
    assert code == 1
    assert "ok       broker        broker localhost:" in out
    # Mosquitto's dynamic-security plugin answers a wrong password with "not authorized" (0x87).
    assert (
        "FAILED   credentials   the broker refused hub hub-doctor-wrong's credentials (not authorized)" in out
    )
    assert "what to do: The hub's password does not match the broker's" in out
    assert "not-the-password" not in out


def test_unreachable_broker_and_missing_ca(tmp_path: Path, bluez: EmulatedBluez) -> None:
    code, checks = checks_of(write_config(tmp_path))
    assert code == 1
    assert checks["broker"]["status"] == "failed"
    assert checks["broker"]["summary"].startswith("cannot reach the broker at localhost:1")
    assert checks["certificates"]["summary"] == f"CA certificate {tmp_path / 'missing-ca.crt'} does not exist"
    assert checks["credentials"]["status"] == "skipped"


def with_feedback(config: Path, **settings: str) -> Path:
    """``config`` with spoken feedback switched on, and these ``[feedback]`` settings."""
    lines = ["", "[feedback]", "enabled = true", *(f'{k} = "{v}"' for k, v in settings.items())]
    config.write_text(config.read_text() + "\n".join(lines) + "\n")
    return config


async def doctor_while_scanning(config: Path, adapter: str) -> tuple[int, str]:
    """The doctor run while a program (as the running hub would) scans on ``adapter``."""
    from bleak import BleakScanner

    scanner = BleakScanner(bluez={"adapter": adapter})
    await scanner.start()
    try:
        return await asyncio.to_thread(doctor, config)
    finally:
        await scanner.stop()


def test_all_good_on_the_emulated_bluez_and_the_real_broker(
    tmp_path: Path, bluez: EmulatedBluez, hub_endpoint: Callable[[str], BrokerEndpoint]
) -> None:
    config = write_config(tmp_path, endpoint=hub_endpoint("hub-doctor-good"))
    with_feedback(config, output="wav_dir", wav_dir=str(tmp_path / "said"))
    code, out = asyncio.run(doctor_while_scanning(config, bluez.hub_adapter))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "hub hub-doctor-good"
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["ok", name]
        for name in (
            "dbus",
            "bluetoothd",
            "adapter",
            "scanning",
            "clock",
            "disk",
            "speech",
            "broker",
            "certificates",
            "credentials",
        )
    ]
    assert "Bluetooth adapter hci0 (00:11:22:33:44:55) present and powered" in out
    assert "ok       scanning      Bluetooth adapter hci0 is scanning for devices" in out
    assert "ok       speech        espeak-ng speaks (voice en-gb" in out
    assert f"announcements are written to {tmp_path / 'said'}, not played" in out
    assert lines[-1] == "all checks passed"


def test_nothing_scanning_is_a_warning_and_a_broken_radio_skips_the_question(
    tmp_path: Path, bluez: EmulatedBluez, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The doctor cannot tell whether the hub should be running (it may not be enrolled yet):
    an adapter nothing scans on is a warning that says how to start the hub, not a failure."""
    config = write_config(tmp_path)
    _, out = doctor(config)
    assert (
        "WARNING  scanning      Bluetooth adapter hci0 is not scanning: the hub is not running, "
        "or is restarting its radio" in out
    )
    assert "what to do: Start the hub ('systemctl start carewatch-hub')" in out
    _, checks = checks_of(config)
    assert checks["scanning"]["status"] == "warning"

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-bus'}")
    _, checks = checks_of(config)
    assert checks["scanning"] == {
        "name": "scanning",
        "status": "skipped",
        "summary": "not checked: the system D-Bus is not reachable",
    }


def test_speech_off_is_said_and_skipped(tmp_path: Path, bluez: EmulatedBluez) -> None:
    _, out = doctor(write_config(tmp_path))
    assert (
        "-        speech        not checked: spoken feedback is switched off in hub.toml "
        "([feedback] enabled = false)" in out
    )


def test_speech_with_a_speaker_needs_a_sound_card(tmp_path: Path, bluez: EmulatedBluez) -> None:
    """output = alsa (the default): espeak-ng renders, then ALSA must list a sound card. This
    machine's own answer decides what the doctor must say."""
    from gateway.diagnostics.speech import sound_cards

    _, checks = checks_of(with_feedback(write_config(tmp_path)))
    speech = checks["speech"]
    cards = sound_cards()
    if cards:
        assert speech["status"] == "ok", speech
        assert f"sound card: {', '.join(cards)} (ALSA device default)" in speech["summary"]
    else:
        assert speech["status"] == "failed", speech
        assert speech["summary"] == "no sound card: ALSA lists none, so the hub's speech is not heard"
        assert "Plug in the speaker" in speech["fix"] and "aplay -l" in speech["fix"]


def test_speech_with_a_voice_espeak_does_not_have(tmp_path: Path, bluez: EmulatedBluez) -> None:
    config = with_feedback(write_config(tmp_path), output="wav_dir", wav_dir=str(tmp_path), voice="xx-nope")
    _, checks = checks_of(config)
    speech = checks["speech"]
    assert speech["status"] == "failed"
    assert speech["summary"].startswith("espeak-ng cannot speak with voice 'xx-nope': espeak-ng (voice")
    assert "'espeak-ng --voices'" in speech["fix"]


def test_speech_without_espeak_ng_installed(
    tmp_path: Path, bluez: EmulatedBluez, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATH without espeak-ng (a hub installed before it was a dependency)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    config = with_feedback(write_config(tmp_path), output="wav_dir", wav_dir=str(tmp_path))
    _, checks = checks_of(config)
    assert checks["speech"]["summary"] == "espeak-ng is not installed: the hub cannot speak"
    assert checks["speech"]["fix"].startswith("Install it: 'apt-get install espeak-ng'")
