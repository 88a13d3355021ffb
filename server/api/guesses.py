"""Wrong claim codes, counted: a claim code is 40 bits, which only stays out of reach if
guesses are slow. ``/api/v1/enrol`` takes few wrong codes from one client address (a
technician mistyping), and few from everyone together (an attacker spread over many
addresses), within a sliding window; past either, every claim waits, a right code too, so
that a lock-out cannot be probed for the codes that would have worked. The lock-out is
audited when it starts (not every refused request: a flood must not flood the trail too).

Counted in memory, per API process: a restart forgets the count, and N processes allow N
times the guesses; both are far from making 40 bits guessable.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

#: Beyond this many addresses remembered, the quiet ones are swept out.
_SWEEP_AT = 10_000


class GuessSettings(BaseModel):
    per_address: int = Field(default=5, ge=1, description="wrong codes from one client address in the window")
    overall: int = Field(
        default=50, ge=1, description="wrong codes from every address together in the window"
    )
    window_s: float = Field(default=900, gt=0, description="the sliding window, and so the longest wait")


@dataclass(frozen=True)
class Lockout:
    """A lock-out that a wrong guess has just started: for the audit trail."""

    scope: str  # the client address, or "*" for every address together
    wrong: int
    retry_after_s: float


class GuessLimiter:
    def __init__(self, settings: GuessSettings | None = None) -> None:
        self.settings = settings or GuessSettings()
        self._window = timedelta(seconds=self.settings.window_s)
        self._by_address: dict[str, deque[datetime]] = {}
        self._overall: deque[datetime] = deque()
        self._lock = threading.Lock()

    def _recent(self, times: deque[datetime], at: datetime) -> deque[datetime]:
        while times and times[0] <= at - self._window:
            times.popleft()
        return times

    def _wait(self, times: deque[datetime], limit: int, at: datetime) -> float:
        """Seconds until fewer than ``limit`` wrong guesses are left in the window."""
        if len(times) < limit:
            return 0.0
        return max(0.0, (times[len(times) - limit] + self._window - at).total_seconds())

    def wait(self, address: str, at: datetime) -> float:
        """How long ``address`` must wait before a claim is even looked at (0: go ahead)."""
        with self._lock:
            mine = self._recent(self._by_address.get(address, deque()), at)
            overall = self._recent(self._overall, at)
            return max(
                self._wait(mine, self.settings.per_address, at),
                self._wait(overall, self.settings.overall, at),
            )

    def wrong(self, address: str, at: datetime) -> list[Lockout]:
        """Count a wrong code from ``address``; the lock-outs it starts, if any."""
        with self._lock:
            if len(self._by_address) > _SWEEP_AT:
                for quiet in [a for a, t in self._by_address.items() if not self._recent(t, at)]:
                    del self._by_address[quiet]
            mine = self._recent(self._by_address.setdefault(address, deque()), at)
            overall = self._recent(self._overall, at)
            mine.append(at)
            overall.append(at)
            started = []
            if len(mine) == self.settings.per_address:
                started.append(Lockout(address, len(mine), self._wait(mine, self.settings.per_address, at)))
            if len(overall) == self.settings.overall:
                started.append(Lockout("*", len(overall), self._wait(overall, self.settings.overall, at)))
            return started
