"""Start a service as a child process, wait until it answers, stop it by PID."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: Services started by this process and not stopped: stopped at exit, so a crash or a failed
#: test does not leave brokers and databases running on a machine with nobody to stop them.
_STARTED: weakref.WeakSet[Service] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for service in list(_STARTED):
        if service.running():
            log.warning("stopping %s (pid %s), left running at exit", service.name, service.pid)
            service.kill()


class ServiceError(RuntimeError):
    """A local service could not be started; the message says which and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def require_binary(name: str, apt_package: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        raise ServiceError(f"{name} is not installed: apt-get install -y {apt_package}")
    return path


@dataclass(eq=False)  # a running process: equal only to itself (and so hashable)
class Service:
    """A running child process whose output goes to a log file in the state directory."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, ready: Callable[[], bool], timeout: float = 20.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = self.log_path.open("ab")
        log.info("starting %s: %s", self.name, " ".join(self.argv))
        self.proc = subprocess.Popen(
            list(self.argv),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop children in order
        )
        _STARTED.add(self)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode}; see {self.log_path}:\n"
                    + self.tail()
                )
            if ready():
                log.info("%s ready (pid %d)", self.name, self.proc.pid)
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}:\n{self.tail()}")

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: signal.Signals) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop on SIGTERM within %.0fs; killing", self.name, timeout)
            self.proc.kill()
            self.proc.wait()
        log.info("%s stopped", self.name)

    def kill(self) -> None:
        """SIGKILL, for tests of crash durability."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
