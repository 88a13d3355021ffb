"""The one rule that turns a continuous oximeter stream into ONE spot reading per finger insertion.

Both continuous oximeters the hub supports use it: the BerryMed stream (``berrymed.SpotReadingDetector``)
and Bluetooth SIG PLX Continuous (``gateway.measurements.continuous.ContinuousSpotAggregator``). Each
decides which of its frames are usable and what a frame carries besides SpO2 and pulse; the window
decides when the values are steady, what the reading is, and when it may emit again, so a change to that
rule reaches both devices at once.

It lives in ``gateway.gatt`` because ``berrymed`` uses it and the decoders import nothing else of the hub.

The rule: a sliding window of the last ``window_frames`` consecutive usable frames. When the window is
full and SpO2 spans at most ``spo2_tolerance`` and pulse at most ``pulse_tolerance``, the low medians
(``median_low``, so the result is a value the device actually reported) are emitted once. The window
then stays silent until the caller reports an unusable frame (finger out, sensor off, invalid value) with
``reset``, and a fresh steady window forms. Unsteady usable frames just slide through. Why steadiness
rather than "first valid value": oximeters display early estimates that overshoot for a few seconds
after insertion; waiting for a plateau is what a nurse does when reading the display.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["DEFAULT_WINDOW_SECONDS", "Steady", "SteadyWindow", "window_frames_for"]

#: How long the values must hold still, for every continuous oximeter unless its caller says otherwise.
DEFAULT_WINDOW_SECONDS: Final = 3.0

#: The value type: the BerryMed stream reports whole numbers, PLX Continuous SFLOATs.
N = TypeVar("N", int, float)
#: Whatever else a caller keeps per frame (flags, perfusion index), handed back with the reading.
X = TypeVar("X")


def window_frames_for(frame_rate_hz: float, window_seconds: float, *, minimum: int) -> int:
    """The window, in frames, for a device streaming ``frame_rate_hz``; never fewer than ``minimum``."""
    return max(minimum, round(frame_rate_hz * window_seconds))


@dataclass(frozen=True, slots=True)
class Steady(Generic[N, X]):
    """One steady window: the low medians, what the caller kept per frame (oldest first), its length."""

    spo2: N
    pulse: N
    extras: tuple[X, ...]
    frames: int


class SteadyWindow(Generic[N, X]):
    """The window itself (see the module docstring for the rule). Feed it usable frames only; call
    ``reset`` on an unusable one, or on a lost connection, so a reading never straddles two insertions."""

    __slots__ = (
        "_emitted",
        "_extras",
        "_pulse",
        "_spo2",
        "pulse_tolerance",
        "spo2_tolerance",
        "window_frames",
    )

    def __init__(self, window_frames: int, *, spo2_tolerance: N, pulse_tolerance: N) -> None:
        if window_frames < 1:
            raise ValueError("window_frames must be at least 1")
        self.window_frames = window_frames
        self.spo2_tolerance: N = spo2_tolerance
        self.pulse_tolerance: N = pulse_tolerance
        self._spo2: deque[N] = deque(maxlen=window_frames)
        self._pulse: deque[N] = deque(maxlen=window_frames)
        self._extras: deque[X] = deque(maxlen=window_frames)
        self._emitted = False

    def feed(self, spo2: N, pulse: N, extra: X) -> Steady[N, X] | None:
        """The reading, when this usable frame completes a steady window; ``None`` otherwise."""
        if self._emitted:
            return None
        self._spo2.append(spo2)
        self._pulse.append(pulse)
        self._extras.append(extra)
        if len(self._spo2) < self.window_frames:
            return None
        if max(self._spo2) - min(self._spo2) > self.spo2_tolerance:
            return None
        if max(self._pulse) - min(self._pulse) > self.pulse_tolerance:
            return None
        steady = Steady(
            statistics.median_low(self._spo2),
            statistics.median_low(self._pulse),
            tuple(self._extras),
            len(self._spo2),
        )
        self._emitted = True
        self._clear()
        return steady

    def _clear(self) -> None:
        self._spo2.clear()
        self._pulse.clear()
        self._extras.clear()

    def reset(self) -> None:
        """Finger removed (or connection lost): forget the window and re-arm."""
        self._clear()
        self._emitted = False
