"""BerryMed-style 5-byte oximeter stream: frames, resynchronising splitter, spot-reading detector.

Frames constructed per the layout in gatt-and-devices.md ("Proprietary") unless stated otherwise.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.gatt import decode
from gateway.gatt.berrymed import (
    BerryMedFrame,
    BerryMedFrames,
    BerryMedStreamParser,
    SpotReading,
    SpotReadingDetector,
    decode_berrymed_frame,
    encode_berrymed_frame,
)
from gateway.gatt.errors import DecodeError
from tests.gatt.helpers import h

NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"


def test_vector_round_trip() -> None:
    # Source: gatt-and-devices.md, "BerryMed frame" row.
    frame = decode_berrymed_frame(h("85 32 05 48 61"))
    assert frame.signal_strength == 5
    assert frame.bargraph == 5
    assert frame.has_reading
    assert encode_berrymed_frame(97, 72, pleth=50, bargraph=5, signal_strength=5) == h("85 32 05 48 61")


def test_status_bits() -> None:
    frame = decode_berrymed_frame(h("F0 00 30 7F 7F"))
    assert frame.pulse_beep
    assert frame.probe_unplugged
    assert frame.searching_too_long
    assert frame.no_finger
    assert frame.searching
    assert frame.pulse_rate_bpm == 127  # bit 6 of byte 2 clear: 127 is a valid pulse
    assert frame.spo2_percent is None
    assert not frame.has_reading


def test_pulse_rate_bit_7_and_invalid() -> None:
    assert decode_berrymed_frame(h("80 00 40 0A 60")).pulse_rate_bpm == 138
    assert decode_berrymed_frame(h("80 00 40 7F 60")).pulse_rate_bpm is None  # 255 invalid
    assert encode_berrymed_frame(96, None) == h("80 00 40 7F 60")
    assert encode_berrymed_frame(None, 138)[2:] == h("40 0A 7F")


@pytest.mark.parametrize(
    "raw", ["05 32 05 48 61", "85 B2 05 48 61", "85 32 05 48 E1", "85 32 05 48", "85 32 05 48 61 00"]
)
def test_bad_frames(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode_berrymed_frame(h(raw))


def test_decode_entry_point_whole_frames_only() -> None:
    two = h("85 32 05 48 61 86 33 05 48 62")
    value = decode(NOTIFY, two)
    assert isinstance(value, BerryMedFrames)
    assert [f.spo2_percent for f in value.frames] == [97, 98]
    for bad in (b"", two[:7], two[1:]):
        with pytest.raises(DecodeError):
            decode(NOTIFY, bad)


def stream(count: int, spo2: int = 97, pulse: int = 72, **flags: bool) -> bytes:
    return b"".join(encode_berrymed_frame(spo2, pulse, pleth=i % 128, **flags) for i in range(count))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 23), min_size=1, max_size=40))
def test_parser_any_chunking(cuts: list[int]) -> None:
    data = stream(40)
    parser = BerryMedStreamParser()
    frames: list[BerryMedFrame] = []
    pos = 0
    for size in cuts:
        frames += parser.feed(data[pos : pos + size])
        pos += size
    frames += parser.feed(data[pos:])
    assert [f.pleth for f in frames] == list(range(40))
    assert parser.discarded_bytes == 0


def test_parser_resynchronises() -> None:
    data = stream(6)
    parser = BerryMedStreamParser()
    # start mid-frame, then lose one byte of the third frame
    corrupted = data[3:12] + data[13:]
    frames = parser.feed(corrupted[:4]) + parser.feed(corrupted[4:])
    assert [f.pleth for f in frames] == [1, 3, 4, 5]
    assert parser.discarded_bytes == 2 + 4
    parser.reset()
    assert parser.feed(data[:3]) == []
    parser.reset()
    assert parser.feed(data[5:]) == [decode_berrymed_frame(data[i : i + 5]) for i in range(5, 30, 5)]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_parser_never_raises(garbage: bytes) -> None:
    parser = BerryMedStreamParser()
    parser.feed(garbage)
    assert [f.pleth for f in parser.feed(stream(3))] == [0, 1, 2]


def frames_of(data: bytes) -> list[BerryMedFrame]:
    return BerryMedStreamParser().feed(data)


def test_detector_emits_one_median_reading() -> None:
    detector = SpotReadingDetector(window_frames=10)
    steady = [encode_berrymed_frame(96 + i % 2, 70 + i % 3) for i in range(30)]
    readings = detector.feed_many(frames_of(b"".join(steady)))
    assert readings == [SpotReading(96, 71, 10)]


def test_detector_waits_for_steadiness() -> None:
    detector = SpotReadingDetector(window_frames=5)
    settling = frames_of(b"".join(encode_berrymed_frame(85 + i, 90 - i) for i in range(6)))
    assert detector.feed_many(settling) == []
    assert detector.feed_many(frames_of(stream(4, 95, 70))) == []
    assert detector.feed_many(frames_of(stream(1, 95, 70))) == [SpotReading(95, 70, 5)]


@pytest.mark.parametrize(
    "off",
    [
        {"no_finger": True},
        {"searching": True},
        {"probe_unplugged": True},
    ],
)
def test_detector_rearms_only_after_finger_off(off: dict[str, bool]) -> None:
    detector = SpotReadingDetector(window_frames=5)
    assert len(detector.feed_many(frames_of(stream(20)))) == 1
    assert detector.feed_many(frames_of(stream(20, 90, 60))) == []  # same insertion, new values: silent
    assert detector.feed_many(frames_of(stream(20, **off))) == []  # finger-off never yields a reading
    assert detector.feed_many(frames_of(stream(20, 93, 65))) == [SpotReading(93, 65, 5)]


def test_detector_invalid_values_break_the_window() -> None:
    detector = SpotReadingDetector(window_frames=5)
    data = (
        stream(4) + encode_berrymed_frame(None, 72) + stream(4) + encode_berrymed_frame(97, None) + stream(4)
    )
    assert detector.feed_many(frames_of(data)) == []
    assert detector.feed_many(frames_of(encode_berrymed_frame(0, 72) + stream(4))) == []
    assert detector.feed_many(frames_of(stream(1))) == [SpotReading(97, 72, 5)]


def test_detector_finger_off_only_never_reads() -> None:
    detector = SpotReadingDetector(window_frames=3)
    assert detector.feed_many(frames_of(stream(50, no_finger=True) + stream(50, searching=True))) == []


def test_detector_configuration() -> None:
    assert SpotReadingDetector().window_frames == 300
    assert SpotReadingDetector.for_frame_rate(50, 2).window_frames == 100
    assert SpotReadingDetector.for_frame_rate(50, pulse_tolerance=5).pulse_tolerance == 5
    with pytest.raises(ValueError, match="window_frames"):
        SpotReadingDetector(0)
