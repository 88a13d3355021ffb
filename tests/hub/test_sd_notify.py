"""The hub tells systemd it is ready, alive and stopping, over a real unix datagram socket as
systemd would listen on: first the protocol alone, then ``carewatch hub run`` as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from gateway.sd_notify import notify, watchdog_interval


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(20)
        yield path, s


def test_notify_sends_one_datagram_to_the_named_socket(systemd_socket: tuple[str, socket.socket]) -> None:
    path, s = systemd_socket
    assert notify("READY=1\nSTATUS=hub running", {"NOTIFY_SOCKET": path})
    assert s.recv(4096) == b"READY=1\nSTATUS=hub running"


def test_an_abstract_socket_is_addressed_with_a_leading_at() -> None:
    name = f"carewatch-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(5)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert s.recv(64) == b"WATCHDOG=1"


def test_outside_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


def test_the_watchdog_interval_is_half_of_systemds_and_only_for_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_hub_run_is_ready_then_feeds_the_watchdog_then_says_it_stops(
    systemd_socket: tuple[str, socket.socket],
    hub_endpoint: Callable[[str], BrokerEndpoint],
    tmp_path: Path,
) -> None:
    """No Bluetooth adapter here: the hub runs without its radio (retried, not fatal), so it
    is ready and alive; systemd restarts it only if its loop stops turning."""
    path, s = systemd_socket
    ep = hub_endpoint("hub-notify-1")
    (tmp_path / "pw").write_text(ep.password)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'hub_id = "hub-notify-1"\nstate_dir = "{tmp_path / "state"}"\nreserve_mb = 0\n'
        f'rescue_dir = "{tmp_path / "rescue"}"\n'
        f'[broker]\nhost = "localhost"\nport = {ep.port}\nca_file = "{ep.ca_file}"\npassword_file = "{tmp_path / "pw"}"\n'
    )
    env = dict(
        os.environ,
        NOTIFY_SOCKET=path,
        WATCHDOG_USEC="1000000",
        DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}",
    )
    hub = subprocess.Popen(
        [sys.executable, "-m", "carewatch", "hub", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def next_of_ours() -> bytes:
        # A library in the test venv (sdbus, through libsystemd) reports its own D-Bus failure
        # as ERRNO=...; systemd logs that and carries on, and so do we.
        while (message := s.recv(4096)).startswith(b"ERRNO="):
            pass
        return message

    try:
        first = next_of_ours()
        assert first.startswith(b"READY=1\n"), first
        assert b"STATUS=hub hub-notify-1 running" in first
        assert [next_of_ours() for _ in range(3)] == [b"WATCHDOG=1"] * 3
        hub.send_signal(signal.SIGTERM)
        while (message := next_of_ours()) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1"
        assert hub.wait(30) == 0
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        assert hub.stderr is not None
        hub.stderr.close()
