"""A circuit breaker for reads a person waits on.

When InfluxDB hangs, every page a matron opens would otherwise wait out the full timeout,
one after another, and each of those waits also holds one of the server's worker threads.
After one read fails, the breaker answers "unavailable" at once for a cool-down, without
touching the network; then it lets exactly one read through as a probe. If the probe works,
reads flow again; if not, the cool-down starts over. Only reads use it: ingest's writes keep
their own patient retries (an unacknowledged MQTT message simply waits for the store).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class CircuitOpen(Exception):
    """The breaker is resting after a failure: the call was not made."""

    def __init__(self, name: str, cause: str, retry_in: float) -> None:
        super().__init__(f"{name} failed just now ({cause}); not asked again for {retry_in:.0f} s")
        self.cause = cause
        self.retry_in = retry_in


class CircuitBreaker:
    """Thread-safe; ``clock`` is monotonic seconds (a test may pass its own)."""

    def __init__(self, name: str, cooldown: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if cooldown < 0:
            raise ValueError("cooldown must be >= 0")
        self.name = name
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._cause = ""
        self._probing = False

    def is_open(self) -> bool:
        """Whether a failure is standing (resting, or waiting for its probe)."""
        with self._lock:
            return self._opened_at is not None

    def call(self, attempt: Callable[[], T], *, trips_on: tuple[type[Exception], ...]) -> T:
        """``attempt()``, unless resting (then :class:`CircuitOpen`, at once). An exception in
        ``trips_on`` means the service is down and opens the breaker; any other outcome means
        it answered (a refused query is the query's fault) and closes it."""
        with self._lock:
            probe = False
            if self._opened_at is not None:
                waited = self._clock() - self._opened_at
                if waited < self.cooldown or self._probing:
                    raise CircuitOpen(self.name, self._cause, max(0.0, self.cooldown - waited))
                self._probing = probe = True
        try:
            result = attempt()
        except trips_on as e:
            with self._lock:
                if self._opened_at is None:
                    log.warning(
                        "%s failed; answering 'unavailable' for %.0f s: %s", self.name, self.cooldown, e
                    )
                self._opened_at, self._cause, self._probing = self._clock(), str(e), False
            raise
        except Exception:
            self._close()
            raise
        except BaseException:  # interrupted: we learnt nothing, so let the next caller probe
            if probe:
                with self._lock:
                    self._probing = False
            raise
        self._close()
        return result

    def _close(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.info("%s answers again", self.name)
            self._opened_at, self._cause, self._probing = None, "", False
