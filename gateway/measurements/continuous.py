"""PLX Continuous frames → one spot reading per steady window (see ``ContinuousSpotAggregator``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Final

from common.wire.vocabulary import StatusFlag
from gateway.gatt.pulse_oximetry import PlxContinuous
from gateway.gatt.steady_window import DEFAULT_WINDOW_SECONDS, SteadyWindow, window_frames_for
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


#: What the aggregator keeps of each frame besides SpO2 and pulse: its perfusion index and its flags.
_FrameExtras = tuple[float | None, tuple[StatusFlag, ...]]


class ContinuousSpotAggregator:
    """PLX Continuous counterpart of ``berrymed.SpotReadingDetector``: one spot per steady window.

    The rule is ``gateway.gatt.steady_window.SteadyWindow``'s, shared with BerryMed, for the same reason
    (early estimates overshoot after the finger goes in). What is PLX's own: a frame is unusable, and
    re-arms the window, when the finger is out, the sensor off, a value unavailable or zero, or the
    device says invalid/demo; early-estimate frames are unusable too: they are exactly the overshoot.
    Flags (low perfusion, questionable signal) of any frame in the window carry over to the spot, and the
    perfusion index is the low median of the frames that reported one.
    """

    __slots__ = ("_window",)

    def __init__(
        self, window_frames: int = 3, *, spo2_tolerance: float = 1, pulse_tolerance: float = 3
    ) -> None:
        self._window: SteadyWindow[float, _FrameExtras] = SteadyWindow(
            window_frames, spo2_tolerance=spo2_tolerance, pulse_tolerance=pulse_tolerance
        )

    @property
    def window_frames(self) -> int:
        return self._window.window_frames

    @property
    def spo2_tolerance(self) -> float:
        return self._window.spo2_tolerance

    @property
    def pulse_tolerance(self) -> float:
        return self._window.pulse_tolerance

    @classmethod
    def for_frame_rate(
        cls,
        frame_rate_hz: float = PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        **tolerances: float,
    ) -> ContinuousSpotAggregator:
        """Window sized in seconds; never fewer than 3 frames, or "steady" would mean nothing."""
        return cls(
            window_frames_for(frame_rate_hz, window_seconds, minimum=_MIN_CONTINUOUS_WINDOW_FRAMES),
            **tolerances,
        )

    def feed(self, frame: PlxContinuous) -> ContinuousSpot | None:
        flags, rejected = plx_status(frame.measurement_status, frame.device_sensor_status)
        early = frame.measurement_status is not None and frame.measurement_status.early_estimated_data
        spo2, pulse = frame.spo2_percent, frame.pulse_rate_bpm
        if spo2 is None or pulse is None or not spo2 or not pulse or rejected is not None or early:
            self.reset()
            return None
        kept = tuple(f for f in flags if f is not StatusFlag.FROM_STORAGE)
        steady = self._window.feed(spo2, pulse, (frame.pulse_amplitude_index, kept))
        if steady is None:
            return None
        pais = [pai for pai, _ in steady.extras if pai is not None]
        return ContinuousSpot(
            steady.spo2,
            steady.pulse,
            statistics.median_low(pais) if pais else None,
            steady.frames,
            tuple(dict.fromkeys(f for _, frame_flags in steady.extras for f in frame_flags)),
        )

    def reset(self) -> None:
        """Finger removed (or connection lost): forget the window and re-arm."""
        self._window.reset()
