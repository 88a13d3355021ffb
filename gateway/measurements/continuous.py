"""PLX Continuous frames → one spot reading per steady window (see ``ContinuousSpotAggregator``)."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Final

from common.wire.vocabulary import StatusFlag
from gateway.gatt.berrymed import DEFAULT_WINDOW_SECONDS
from gateway.gatt.pulse_oximetry import PlxContinuous
from gateway.measurements.status import plx_status

__all__ = ["PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ", "ContinuousSpot", "ContinuousSpotAggregator"]

#: PLX Continuous devices typically notify about once a second; override with ``frame_rate_hz``.
PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ: Final = 1.0
_MIN_CONTINUOUS_WINDOW_FRAMES: Final = 3


@dataclass(frozen=True, slots=True)
class ContinuousSpot:
    """One steady window of PLX continuous frames, condensed like a nurse reading the display."""

    spo2_percent: float
    pulse_rate_bpm: float
    perfusion_index: float | None
    frames: int
    flags: tuple[StatusFlag, ...] = ()


class ContinuousSpotAggregator:
    """PLX Continuous counterpart of ``berrymed.SpotReadingDetector``: one spot per steady window.

    Same rule, for the same reason (early estimates overshoot after the finger goes in): a window of the
    last ``window_frames`` consecutive usable frames; when SpO2 spans at most ``spo2_tolerance`` and pulse
    at most ``pulse_tolerance``, the low medians (values the device actually reported) are emitted once,
    then nothing until an unusable frame (finger out, sensor off, values unavailable, device says
    invalid/demo) re-arms it. Early-estimate frames are unusable too: they are exactly the overshoot.
    Flags (low perfusion, questionable signal) of any frame in the window carry over to the spot.
    """

    __slots__ = (
        "_emitted",
        "_flags",
        "_pai",
        "_pulse",
        "_spo2",
        "pulse_tolerance",
        "spo2_tolerance",
        "window_frames",
    )

    def __init__(
        self, window_frames: int = 3, *, spo2_tolerance: float = 1, pulse_tolerance: float = 3
    ) -> None:
        if window_frames < 1:
            raise ValueError("window_frames must be at least 1")
        self.window_frames = window_frames
        self.spo2_tolerance = spo2_tolerance
        self.pulse_tolerance = pulse_tolerance
        self._spo2: deque[float] = deque(maxlen=window_frames)
        self._pulse: deque[float] = deque(maxlen=window_frames)
        self._pai: deque[float | None] = deque(maxlen=window_frames)
        self._flags: deque[tuple[StatusFlag, ...]] = deque(maxlen=window_frames)
        self._emitted = False

    @classmethod
    def for_frame_rate(
        cls,
        frame_rate_hz: float = PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        **tolerances: float,
    ) -> ContinuousSpotAggregator:
        """Window sized in seconds; never fewer than 3 frames, or "steady" would mean nothing."""
        return cls(max(_MIN_CONTINUOUS_WINDOW_FRAMES, round(frame_rate_hz * window_seconds)), **tolerances)

    def feed(self, frame: PlxContinuous) -> ContinuousSpot | None:
        flags, rejected = plx_status(frame.measurement_status, frame.device_sensor_status)
        early = frame.measurement_status is not None and frame.measurement_status.early_estimated_data
        spo2, pulse = frame.spo2_percent, frame.pulse_rate_bpm
        if spo2 is None or pulse is None or not spo2 or not pulse or rejected is not None or early:
            self.reset()
            return None
        if self._emitted:
            return None
        self._spo2.append(spo2)
        self._pulse.append(pulse)
        self._pai.append(frame.pulse_amplitude_index)
        self._flags.append(tuple(f for f in flags if f is not StatusFlag.FROM_STORAGE))
        if len(self._spo2) < self.window_frames:
            return None
        if max(self._spo2) - min(self._spo2) > self.spo2_tolerance:
            return None
        if max(self._pulse) - min(self._pulse) > self.pulse_tolerance:
            return None
        pais = [p for p in self._pai if p is not None]
        spot = ContinuousSpot(
            statistics.median_low(self._spo2),
            statistics.median_low(self._pulse),
            statistics.median_low(pais) if pais else None,
            len(self._spo2),
            tuple(dict.fromkeys(f for frame_flags in self._flags for f in frame_flags)),
        )
        self._emitted = True
        self._clear()
        return spot

    def _clear(self) -> None:
        self._spo2.clear()
        self._pulse.clear()
        self._pai.clear()
        self._flags.clear()

    def reset(self) -> None:
        """Finger removed (or connection lost): forget the window and re-arm."""
        self._clear()
        self._emitted = False
