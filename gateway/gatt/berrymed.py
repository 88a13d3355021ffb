"""BerryMed-style proprietary oximeter stream (sold under many brands).

The device notifies a continuous stream of 5-byte frames on characteristic
49535343-1E4D-4BD9-BA61-23C647249616 (service 49535343-FE7D-4AE5-8FA9-9FAFD205E455):

    byte 0  header: bit 7 always set (sync); bit 6 pulse beep; bit 5 probe unplugged;
            bit 4 searching too long; bits 0–3 signal strength
    byte 1  plethysmogram sample (7 bits)
    byte 2  bits 0–3 bar graph; bit 4 no finger; bit 5 searching for pulse; bit 6 = pulse-rate bit 7
    byte 3  pulse rate bits 0–6 (together with byte 2 bit 6: 255 = invalid)
    byte 4  SpO2 % (127 = invalid)

Only the header has bit 7 set, which is what makes the stream self-synchronising: notifications do not
respect frame boundaries (one may carry several frames, or end mid-frame), so ``BerryMedStreamParser``
buffers and re-locks on the next header whenever a frame is broken.

The stream is continuous, but the clinic wants one spot reading per measurement, so
``SpotReadingDetector`` turns frames into at most one ``SpotReading`` per finger insertion, by the rule
``steady_window`` holds for every continuous oximeter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.gatt.errors import DecodeError
from gateway.gatt.steady_window import DEFAULT_WINDOW_SECONDS, SteadyWindow, window_frames_for

__all__ = [
    "DEFAULT_FRAME_RATE_HZ",
    "FRAME_LENGTH",
    "BerryMedFrame",
    "BerryMedFrames",
    "BerryMedStreamParser",
    "SpotReading",
    "SpotReadingDetector",
    "decode_berrymed_frame",
    "decode_berrymed_frames",
    "encode_berrymed_frame",
]

FRAME_LENGTH: Final = 5
PULSE_INVALID: Final = 255
SPO2_INVALID: Final = 127
#: BCI-protocol devices stream about 100 frames per second; override per device in the catalogue.
DEFAULT_FRAME_RATE_HZ: Final = 100.0


@dataclass(frozen=True, slots=True)
class BerryMedFrame:
    signal_strength: int
    searching_too_long: bool
    probe_unplugged: bool
    pulse_beep: bool
    pleth: int
    bargraph: int
    no_finger: bool
    searching: bool
    pulse_rate_bpm: int | None  # None when the device sends 255 (invalid)
    spo2_percent: int | None  # None when the device sends 127 (invalid)

    @property
    def has_reading(self) -> bool:
        """A frame that may count towards a spot reading: finger in, not searching, both values valid.

        A value of 0 is treated as invalid too: some units send 0 instead of the invalid marker while the
        reading settles, and neither 0 % SpO2 nor 0 bpm can come from a live finger.
        """
        return (
            not (self.no_finger or self.searching or self.probe_unplugged)
            and bool(self.pulse_rate_bpm)
            and bool(self.spo2_percent)
        )


@dataclass(frozen=True, slots=True)
class BerryMedFrames:
    """What ``decode()`` returns for one notification: the whole, aligned frames it carried."""

    frames: tuple[BerryMedFrame, ...]


def decode_berrymed_frame(data: bytes) -> BerryMedFrame:
    """Exactly one 5-byte frame."""
    if len(data) != FRAME_LENGTH:
        raise DecodeError(f"BerryMed: a frame is {FRAME_LENGTH} bytes, got {len(data)}")
    header, pleth, info, pulse_low, spo2 = data
    if not header & 0x80:
        raise DecodeError(f"BerryMed: header byte {header:#04x} lacks the sync bit 7")
    if (pleth | info | pulse_low | spo2) & 0x80:
        raise DecodeError(f"BerryMed: sync bit 7 set inside frame {bytes(data).hex(' ')}")
    pulse = (info & 0x40) << 1 | pulse_low
    return BerryMedFrame(
        signal_strength=header & 0x0F,
        searching_too_long=bool(header & 0x10),
        probe_unplugged=bool(header & 0x20),
        pulse_beep=bool(header & 0x40),
        pleth=pleth,
        bargraph=info & 0x0F,
        no_finger=bool(info & 0x10),
        searching=bool(info & 0x20),
        pulse_rate_bpm=None if pulse == PULSE_INVALID else pulse,
        spo2_percent=None if spo2 == SPO2_INVALID else spo2,
    )


def decode_berrymed_frames(data: bytes) -> BerryMedFrames:
    """A notification holding only whole frames, starting on a header.

    Stateless, so it cannot resynchronise: live streams should go through ``BerryMedStreamParser``.
    """
    if not data or len(data) % FRAME_LENGTH:
        raise DecodeError(f"BerryMed: {len(data)} bytes is not a whole number of {FRAME_LENGTH}-byte frames")
    return BerryMedFrames(
        tuple(decode_berrymed_frame(data[i : i + FRAME_LENGTH]) for i in range(0, len(data), FRAME_LENGTH))
    )


def encode_berrymed_frame(
    spo2_percent: int | None,
    pulse_rate_bpm: int | None,
    *,
    pleth: int = 0,
    bargraph: int = 0,
    signal_strength: int = 0,
    no_finger: bool = False,
    searching: bool = False,
    probe_unplugged: bool = False,
    pulse_beep: bool = False,
    searching_too_long: bool = False,
) -> bytes:
    """One frame for the simulator; ``None`` values encode the invalid markers."""
    if pulse_rate_bpm is not None and not 0 <= pulse_rate_bpm < PULSE_INVALID:
        raise ValueError(f"BerryMed pulse rate out of range: {pulse_rate_bpm}")
    if spo2_percent is not None and not 0 <= spo2_percent < SPO2_INVALID:
        raise ValueError(f"BerryMed SpO2 out of range: {spo2_percent}")
    if not 0 <= pleth <= 127:
        raise ValueError(f"BerryMed pleth out of range: {pleth}")
    pulse = PULSE_INVALID if pulse_rate_bpm is None else pulse_rate_bpm
    spo2 = SPO2_INVALID if spo2_percent is None else spo2_percent
    if not 0 <= bargraph <= 15 or not 0 <= signal_strength <= 15:
        raise ValueError("BerryMed bargraph/signal strength out of range")
    header = 0x80 | pulse_beep << 6 | probe_unplugged << 5 | searching_too_long << 4 | signal_strength
    info = (pulse & 0x80) >> 1 | searching << 5 | no_finger << 4 | bargraph
    return bytes((header, pleth, info, pulse & 0x7F, spo2))


class BerryMedStreamParser:
    """Reassembles frames from notifications that split or merge them arbitrarily.

    Bytes before the first header are discarded; a frame interrupted by a new header (a dropped byte on
    the radio) is discarded and parsing restarts at that header, so one corrupted byte costs at most one
    frame. At most one partial frame is buffered.
    """

    __slots__ = ("_buffer", "discarded_bytes")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded_bytes = 0

    def feed(self, chunk: bytes) -> list[BerryMedFrame]:
        buffer = self._buffer
        buffer += chunk
        frames: list[BerryMedFrame] = []
        start = 0
        length = len(buffer)
        while start < length:
            if not buffer[start] & 0x80:
                start += 1
                self.discarded_bytes += 1
                continue
            end = start + 1
            while end < length and end - start < FRAME_LENGTH and not buffer[end] & 0x80:
                end += 1
            if end - start == FRAME_LENGTH:
                frames.append(decode_berrymed_frame(bytes(buffer[start:end])))
                start = end
            elif end == length:
                break  # partial frame at the end: wait for the next chunk
            else:
                self.discarded_bytes += end - start  # interrupted by a new header
                start = end
        del buffer[:start]
        return frames

    def reset(self) -> None:
        """Drop buffered bytes, e.g. after a reconnect."""
        self._buffer.clear()


@dataclass(frozen=True, slots=True)
class SpotReading:
    spo2_percent: int
    pulse_rate_bpm: int
    frames: int  # how many steady frames the reading summarises


class SpotReadingDetector:
    """Emits ONE spot reading per finger insertion, once the values have been steady long enough.

    The rule is ``steady_window.SteadyWindow``'s, shared with PLX Continuous; the window defaults to 3 s
    at 100 Hz = 300 frames. What is BerryMed's own: a usable frame is one with a finger in, not
    searching, the probe plugged and both values valid (``BerryMedFrame.has_reading``); any other frame
    empties the window, so a reading never straddles a finger-off/on cycle, and finger-off or searching
    frames never yield a reading.
    """

    __slots__ = ("_window",)

    def __init__(
        self,
        window_frames: int = round(DEFAULT_FRAME_RATE_HZ * DEFAULT_WINDOW_SECONDS),
        *,
        spo2_tolerance: int = 1,
        pulse_tolerance: int = 3,
    ) -> None:
        self._window: SteadyWindow[int, None] = SteadyWindow(
            window_frames, spo2_tolerance=spo2_tolerance, pulse_tolerance=pulse_tolerance
        )

    @property
    def window_frames(self) -> int:
        return self._window.window_frames

    @property
    def spo2_tolerance(self) -> int:
        return self._window.spo2_tolerance

    @property
    def pulse_tolerance(self) -> int:
        return self._window.pulse_tolerance

    @classmethod
    def for_frame_rate(
        cls, frame_rate_hz: float, window_seconds: float = DEFAULT_WINDOW_SECONDS, **tolerances: int
    ) -> SpotReadingDetector:
        """Size the window in seconds for a device whose frame rate differs from the default."""
        return cls(window_frames_for(frame_rate_hz, window_seconds, minimum=1), **tolerances)

    def feed(self, frame: BerryMedFrame) -> SpotReading | None:
        spo2, pulse = frame.spo2_percent, frame.pulse_rate_bpm
        if spo2 is None or pulse is None or not frame.has_reading:
            self.reset()
            return None
        steady = self._window.feed(spo2, pulse, None)
        if steady is None:
            return None
        return SpotReading(int(steady.spo2), int(steady.pulse), steady.frames)

    def feed_many(self, frames: list[BerryMedFrame]) -> list[SpotReading]:
        return [reading for frame in frames if (reading := self.feed(frame)) is not None]

    def reset(self) -> None:
        """Finger removed (or connection lost): forget the window and re-arm."""
        self._window.reset()
