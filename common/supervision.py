"""Threads that may not die quietly.

A long-running loop handles what it knows per item (a row it cannot read is quarantined, a
message it cannot process is dead-lettered), so one bad item never stops the rest. What it
does not know is a bug: carrying on would hide it, and a thread that dies while the process
stays up is the worst outcome (the process looks alive; systemd never restarts it; readings
pile up unseen). So an exception that escapes a loop marks the whole process as failed, and
the process's main thread exits non-zero for its supervisor (systemd, compose) to restart
it. Every durable store is built for exactly that restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: The exit status of a process whose loop failed (sysexits.h EX_SOFTWARE).
EXIT_LOOP_FAILED = 70


class Supervisor:
    """Collects the failure of any guarded thread; ``failed`` is set on the first one."""

    def __init__(self) -> None:
        self.failed = threading.Event()
        self.reason: str | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (from the failing thread) when a loop fails, e.g. to wake the
        main thread; must be quick and must not raise."""
        self._callbacks.append(callback)

    def fail(self, name: str, error: BaseException) -> None:
        with self._lock:
            first = not self.failed.is_set()
            if first:
                self.reason = f"{name}: {type(error).__name__}: {error}"
                self.failed.set()
        log.critical("%s failed; the process must restart", name, exc_info=error)
        if first:
            for callback in self._callbacks:
                try:
                    callback()
                except Exception:  # a failing callback must not hide the original failure
                    log.exception("failure callback for %s raised", name)

    def guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        """``target`` wrapped so that an exception escaping it fails the process."""

        def run() -> None:
            try:
                target()
            except BaseException as e:  # noqa: BLE001 - the point: whatever escapes fails the process
                self.fail(name, e)

        return run

    def thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        return threading.Thread(target=self.guard(name, target), name=name, daemon=True)
