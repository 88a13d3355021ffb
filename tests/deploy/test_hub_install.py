"""deploy/hub/install.sh in a fresh Debian bookworm root, as a new Raspberry Pi would run it:
a root made by debootstrap, the wheel built from this checkout, pip fetching the hub's
dependencies from PyPI, then enrolment from a bundle against the real broker (the chroot
shares this machine's network, so the broker on loopback is reachable from inside).

What is not the real thing: a chroot, not a booted system, so systemd is not running there;
the script then installs and enables the unit for the next boot, and the unit's contents are
checked here (its behaviour under systemd, READY and the watchdog, is tested in
tests/hub/test_sd_notify.py over a real notify socket). amd64, not arm64: the script and the
wheel are architecture-independent; the hub's dependencies have wheels for both.

Slow (about two minutes: the root from its cached tarball, the hub's dependencies from
PyPI), so one test does it all. The bookworm root is built once per machine with debootstrap
(about 80 s) and cached as a tarball under .state/cache/ (CAREWATCH_DEBOOTSTRAP_CACHE moves it).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.mosquitto import LocalMosquitto
from server import hub_enrolment as enrolment
from server import hub_lifecycle
from server.settings import MqttSettings
from server.store.database import Database
from tests.packaging.test_wheel import _NOT_SOURCE

ROOT = Path(__file__).resolve().parents[2]
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,ca-certificates,passwd"

pytestmark = [pytest.mark.install_root, pytest.mark.timeout(1200)]


def _cached_root_tarball() -> Path:
    cache = Path(os.environ.get("CAREWATCH_DEBOOTSTRAP_CACHE", ROOT / ".state" / "cache"))
    tarball = cache / "debootstrap-bookworm-minbase.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is missing: apt-get install -y debootstrap (./dev test installs it)")
    cache.mkdir(parents=True, exist_ok=True)
    build = cache / "debootstrap-build"
    shutil.rmtree(build, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", build, MIRROR],
        check=True,
        capture_output=True,
        timeout=900,
    )
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", build, "-cf", partial, "."], check=True, timeout=300)
    partial.rename(tarball)
    shutil.rmtree(build)
    return tarball


def _wheel(base: Path) -> Path:
    source, dist = base / "source", base / "dist"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], check=True, timeout=300
    )
    (wheel,) = dist.glob("carewatch-*.whl")
    return wheel


class Chroot:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
        }
        done = subprocess.run(
            ["chroot", str(self.root), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def mode(self, path: str) -> tuple[str, str, int]:
        """Owner, group and permission bits, as the root's own users and groups name them."""
        out = self.run("stat", "-c", "%U %G %a", path).stdout.split()
        return out[0], out[1], int(out[2], 8)


def test_install_sh_on_a_fresh_bookworm_root_then_enrol(
    tmp_path: Path, broker: LocalMosquitto, database: Database
) -> None:
    if os.geteuid() != 0:
        pytest.fail("chroot needs root; ./dev test runs as root")
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", root, "-xf", _cached_root_tarball()], check=True, timeout=300)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # debootstrap leaves /etc/hosts to the installer; every booted Debian has localhost in it.
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    # The host's CA bundle: pip inside checks PyPI's certificate with what this machine trusts.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    wheel = _wheel(tmp_path)
    shutil.copy(wheel, root / "tmp" / wheel.name)
    shutil.copytree(ROOT / "deploy" / "hub", root / "root" / "hub-deploy")
    chroot = Chroot(root)

    first = chroot.run("/bin/sh", "/root/hub-deploy/install.sh", "--wheel", f"/tmp/{wheel.name}")
    assert "now enrol the hub" in first.stdout
    assert "the unit is installed and enabled for the next boot" in first.stdout

    # The user, in the bluetooth and audio groups (no gpio group on plain Debian), with no login.
    user = chroot.run("getent", "passwd", "carewatch-hub").stdout.strip().split(":")
    assert (user[5], user[6]) == ("/var/lib/carewatch-hub", "/usr/sbin/nologin")
    groups = chroot.run("id", "-nG", "carewatch-hub").stdout.split()
    assert {"bluetooth", "audio"} <= set(groups) and "gpio" not in groups
    # The hub's voice: espeak-ng renders a phrase inside the new root, and ALSA's player is there.
    chroot.run("espeak-ng", "-v", "en-gb", "-w", "/tmp/spoken.wav", "CareWatch hub")
    assert (root / "tmp/spoken.wav").read_bytes()[:4] == b"RIFF"
    assert "aplay" in chroot.run("aplay", "--version").stdout
    # The venv: the hub's code and none of the server's libraries (the one wheel carries the
    # server's modules too; what the hub runs imports none of them, checked just below).
    venv_python = "/opt/carewatch-hub/venv/bin/python"
    for server_side in ("fastapi", "sqlalchemy", "influxdb_client", "uvicorn", "segno"):
        refused = chroot.run(venv_python, "-c", f"import {server_side}", check=False)
        assert refused.returncode == 1 and "ModuleNotFoundError" in refused.stderr, server_side
    loaded = chroot.run(
        venv_python,
        "-c",
        "import sys, gateway.cli, gateway.daemon, gateway.sd_notify; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'server', 'fastapi', 'sqlalchemy'}))",
    )
    assert loaded.stdout.strip() == "[]"
    assert "enrol" in chroot.run("/opt/carewatch-hub/venv/bin/carewatch", "hub", "--help").stdout
    # The directories and the unit.
    assert chroot.mode("/etc/carewatch") == ("carewatch-hub", "carewatch-hub", 0o700)
    assert chroot.mode("/var/lib/carewatch-hub") == ("carewatch-hub", "carewatch-hub", 0o700)
    unit = (root / "etc/systemd/system/carewatch-hub.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=60",
        "User=carewatch-hub",
        "ExecStart=/opt/carewatch-hub/venv/bin/carewatch hub run",
        "Restart=always",
        "SupplementaryGroups=bluetooth audio",
    ):
        assert line in unit.splitlines(), line
    assert (root / "etc/systemd/system/multi-user.target.wants/carewatch-hub.service").is_symlink()
    gpio_drop_in = root / "etc/systemd/system/carewatch-hub.service.d/gpio.conf"
    assert not gpio_drop_in.exists()
    journald = (root / "etc/systemd/journald.conf.d/carewatch-hub.conf").read_text()
    assert "SystemMaxUse=64M" in journald

    # Enrolment from a bundle, as root on the new hub, against the real broker.
    settings = MqttSettings(
        host="localhost", port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
    )
    hub_lifecycle.add(database, settings.endpoint(), "hub-fresh-1", actor="tech1")
    (root / "root/bundle.json").write_text(
        enrolment.issue_bundle(database, settings, "hub-fresh-1", actor="tech1").to_json()
    )
    enrolled = chroot.run("/opt/carewatch-hub/venv/bin/carewatch", "hub", "enrol", "/root/bundle.json")
    assert "the broker accepts this hub" in enrolled.stdout, enrolled.stdout
    for name in ("hub.toml", "mqtt-password", "ca.crt"):
        assert chroot.mode(f"/etc/carewatch/{name}") == ("carewatch-hub", "carewatch-hub", 0o600), name

    # Again (an upgrade), now on a machine with a gpio group (as Raspberry Pi OS has):
    # idempotent, the configuration kept, modes put right, the gpio drop-in added.
    hub_toml = (root / "etc/carewatch/hub.toml").read_text()
    os.chmod(root / "etc/carewatch/mqtt-password", 0o644)
    chroot.run("groupadd", "--system", "gpio")
    again = chroot.run("/bin/sh", "/root/hub-deploy/install.sh", "--wheel", f"/tmp/{wheel.name}")
    assert "check the hub with" in again.stdout
    assert "installing espeak-ng" not in again.stdout  # there already
    assert "gpio" in chroot.run("id", "-nG", "carewatch-hub").stdout.split()
    assert "SupplementaryGroups=gpio" in gpio_drop_in.read_text().splitlines()
    assert (root / "etc/carewatch/hub.toml").read_text() == hub_toml
    assert stat.S_IMODE((root / "etc/carewatch/mqtt-password").stat().st_mode) == 0o600
    assert len(chroot.run("getent", "passwd", "carewatch-hub").stdout.splitlines()) == 1
