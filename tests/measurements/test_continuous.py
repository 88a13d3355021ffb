"""Continuous streams → one spot reading per steady window, and the per-connection ReadingAssembler.

PLX continuous frames are built with ``encode_plx_continuous`` (encoder) or taken from the vector table
in gatt-and-devices.md (doc vector); BerryMed frames likewise (``encode_berrymed_frame`` / doc vector).
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta

import pytest

from common.wire.messages import Reading, TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.catalogue.loader import load_catalogue, parse_model
from gateway.catalogue.models import DeviceModel
from gateway.gatt import decode, uuids
from gateway.gatt.berrymed import encode_berrymed_frame
from gateway.gatt.blood_pressure import encode_blood_pressure_measurement
from gateway.gatt.pulse_oximetry import (
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    encode_plx_continuous,
    encode_plx_spot_check,
)
from gateway.measurements.assembler import ReadingAssembler
from gateway.measurements.continuous import ContinuousSpot, ContinuousSpotAggregator
from gateway.measurements.refusals import Refusal, RefusalReason
from tests.measurements.helpers import ADDRESS, LONDON, RECEIVED, h, shipped

DOC_BERRYMED_FRAME = h("85 32 05 48 61")  # doc vector: pleth 50, finger present, pulse 72, SpO2 97


def frame(
    spo2: float | None,
    pulse: float | None,
    *,
    measurement_status: PlxMeasurementStatus | None = None,
    device_sensor_status: PlxDeviceSensorStatus | None = None,
    pulse_amplitude_index: float | None = None,
) -> PlxContinuous:
    data = encode_plx_continuous(
        spo2,
        pulse,
        measurement_status=measurement_status,
        device_sensor_status=device_sensor_status,
        pulse_amplitude_index=pulse_amplitude_index,
    )  # encoder
    value = decode("2a5f", data)
    assert isinstance(value, PlxContinuous)
    return value


def feed_all(aggregator: ContinuousSpotAggregator, frames: list[PlxContinuous]) -> list[ContinuousSpot]:
    return [spot for f in frames if (spot := aggregator.feed(f)) is not None]


# --- ContinuousSpotAggregator ------------------------------------------------------------------------


def test_steady_window_gives_exactly_one_spot() -> None:
    aggregator = ContinuousSpotAggregator(window_frames=5)
    spots = feed_all(aggregator, [frame(s, p) for s, p in [(97, 70), (96, 72), (97, 71), (97, 73), (96, 70)]])
    assert spots == [ContinuousSpot(97, 71, None, 5, ())]  # low medians
    assert feed_all(aggregator, [frame(97, 71)] * 20) == []  # silent until the finger comes out


def test_finger_out_rearms() -> None:
    aggregator = ContinuousSpotAggregator(window_frames=3)
    assert len(feed_all(aggregator, [frame(97, 70)] * 3)) == 1
    assert aggregator.feed(frame(None, None)) is None  # finger out: NaN values
    assert len(feed_all(aggregator, [frame(95, 80)] * 3)) == 1


def test_unsteady_values_slide_through_until_they_settle() -> None:
    aggregator = ContinuousSpotAggregator(window_frames=3)
    overshoot = [frame(s, p) for s, p in [(88, 110), (92, 95), (99, 80), (97, 76), (97, 75), (96, 75)]]
    spots = feed_all(aggregator, overshoot)
    assert [(s.spo2_percent, s.pulse_rate_bpm) for s in spots] == [(97, 75)]


def test_early_estimates_and_device_rejections_never_count() -> None:
    early = PlxMeasurementStatus.from_flags(early_estimated_data=True)
    demo = PlxMeasurementStatus.from_flags(data_for_demonstration=True)
    off = PlxDeviceSensorStatus.from_flags(sensor_unconnected_to_user=True)
    aggregator = ContinuousSpotAggregator(window_frames=3)
    frames = [
        frame(97, 70),
        frame(97, 70),
        frame(97, 70, measurement_status=early),  # resets: two good frames lost
        frame(97, 70),
        frame(97, 70, measurement_status=demo),
        frame(97, 70),
        frame(97, 70, device_sensor_status=off),
        frame(0, 70),  # some units send 0 while settling
    ]
    assert feed_all(aggregator, frames) == []


def test_flags_and_pai_carry_over() -> None:
    ongoing = PlxMeasurementStatus.from_flags(measurement_ongoing=True)
    low = PlxDeviceSensorStatus.from_flags(low_perfusion_detected=True)
    aggregator = ContinuousSpotAggregator(window_frames=3)
    spots = feed_all(
        aggregator,
        [
            frame(95, 90, measurement_status=ongoing, pulse_amplitude_index=8.7),
            frame(95, 90, device_sensor_status=low, pulse_amplitude_index=8.1),
            frame(95, 91, pulse_amplitude_index=8.4),
        ],
    )
    assert spots == [ContinuousSpot(95, 90, 8.4, 3, (StatusFlag.LOW_PERFUSION,))]


def test_doc_vector_frame_is_usable() -> None:
    value = decode("2a5f", h("1C 5F 00 5A 00 20 00 00 00 00 57 F0"))  # doc vector: ongoing, PAI 8.7
    assert isinstance(value, PlxContinuous)
    aggregator = ContinuousSpotAggregator(window_frames=3)
    assert feed_all(aggregator, [value] * 3) == [ContinuousSpot(95, 90, 8.7, 3, ())]


def test_window_sizing() -> None:
    assert ContinuousSpotAggregator.for_frame_rate(1.0).window_frames == 3
    assert ContinuousSpotAggregator.for_frame_rate(0.2).window_frames == 3  # never fewer than 3
    assert ContinuousSpotAggregator.for_frame_rate(4.0, window_seconds=5).window_frames == 20
    with pytest.raises(ValueError, match="at least 1"):
        ContinuousSpotAggregator(window_frames=0)


# --- ReadingAssembler -----------------------------------------------------------------------------------


def assembler(model: DeviceModel, *, window_seconds: float = 3.0) -> ReadingAssembler:
    return ReadingAssembler(model, model.identity(ADDRESS), LONDON, window_seconds=window_seconds)


def readings(items: list[Reading | Refusal]) -> list[Reading]:
    assert all(isinstance(i, Reading) for i in items), items
    return [i for i in items if isinstance(i, Reading)]


CONTINUOUS_OXIMETER = parse_model(
    {
        "id": "test-continuous-oximeter",
        "manufacturer": "Test",
        "model": "PLX continuous",
        "match": {"names": ["^TestOx"]},
        "profile": "plx_continuous",
        "characteristics": [{"uuid": "2a5f", "subscribe": "notify"}],
        "bonding": "none",
        "clock": "none",
        "stored_readings": "none",
        "mode": "continuous",
        "kinds": ["spo2"],
        "frame_rate_hz": 1,
    }
)


def test_assembler_condenses_plx_continuous() -> None:
    session = assembler(CONTINUOUS_OXIMETER)
    data = encode_plx_continuous(96, 66, pulse_amplitude_index=3.2)  # encoder
    assert session.feed("2a5f", data, RECEIVED) == []
    assert session.feed("2a5f", data, RECEIVED + timedelta(seconds=1)) == []
    done = RECEIVED + timedelta(seconds=2)
    (reading,) = readings(session.feed("0x2A5F", data, done))
    assert reading.kind is ReadingKind.SPO2
    assert {m: q.value for m, q in reading.values.items()} == {
        Measure.SPO2: 96,
        Measure.PULSE: 66,
        Measure.PERFUSION_INDEX: 3.2,
    }
    assert (reading.time_source, reading.taken_at) == (TimeSource.HUB, done)
    assert [(r.uuid, r.payload()) for r in reading.raw] == [("2a5f", data)]
    assert reading.device.model == "test-continuous-oximeter"
    assert session.feed("2a5f", data, done) == []  # one reading per insertion


def test_spot_mode_oximeter_treats_continuous_frames_as_live() -> None:
    session = assembler(shipped("nonin-3230"))
    (refusal,) = session.feed("2a5f", h("00 64 00 5A 00"), RECEIVED)  # doc vector
    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.NOT_A_READING
    (reading,) = readings(session.feed("2a5e", encode_plx_spot_check(97, 72), RECEIVED))  # encoder
    assert reading.value(Measure.SPO2) == 97


def test_berrymed_stream_split_anywhere_gives_one_reading_per_insertion() -> None:
    session = assembler(shipped("berrymed-bci"), window_seconds=0.5)  # 100 Hz x 0.5 s = 50 frames
    stream = DOC_BERRYMED_FRAME * 60
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]  # notifications ignore frame borders
    out: list[Reading] = []
    for chunk in chunks:
        out += readings(session.feed(uuids.BERRYMED_NOTIFY, chunk, RECEIVED))
    assert len(out) == 1
    assert (out[0].value(Measure.SPO2), out[0].value(Measure.PULSE)) == (97, 72)
    assert out[0].time_source is TimeSource.HUB
    assert out[0].raw[0].uuid == uuids.BERRYMED_NOTIFY
    assert len(out[0].raw[0].payload()) == 7

    finger_out = encode_berrymed_frame(None, None, no_finger=True)  # encoder
    assert session.feed(uuids.BERRYMED_NOTIFY, finger_out, RECEIVED) == []
    second = readings(session.feed(uuids.BERRYMED_NOTIFY, encode_berrymed_frame(95, 80) * 50, RECEIVED))
    assert [(r.value(Measure.SPO2), r.value(Measure.PULSE)) for r in second] == [(95, 80)]
    assert second[0].reading_id != out[0].reading_id  # no device timestamp: fresh ids


def test_reset_forgets_a_half_window() -> None:
    session = assembler(shipped("berrymed-bci"), window_seconds=0.5)
    assert (
        session.feed(uuids.BERRYMED_NOTIFY, DOC_BERRYMED_FRAME * 49 + DOC_BERRYMED_FRAME[:2], RECEIVED) == []
    )
    session.reset()  # disconnect
    assert session.feed(uuids.BERRYMED_NOTIFY, DOC_BERRYMED_FRAME[2:] + DOC_BERRYMED_FRAME, RECEIVED) == []


def beurer_bytes() -> bytes:
    """What the Beurer cuff sends (constructed from the deviation described in gatt-and-devices.md,
    "Pitfalls", as in tests/gatt/test_quirks.py): flags timestamp+pulse+status, pulse and status
    big-endian, and a user-id byte although its flag is clear."""
    return (
        struct.pack("<BHHH", 0x16, 135, 85, 102)
        + struct.pack("<HBBBBB", 2024, 7, 1, 9, 40, 0)
        + struct.pack(">H", 72)
        + bytes((2,))
        + struct.pack(">H", 0x0004)  # irregular pulse
    )


def test_beurer_bytes_decode_only_with_the_quirk() -> None:
    data = beurer_bytes()
    (without,) = assembler(shipped("generic-blood-pressure")).feed("2a35", data, RECEIVED)
    assert isinstance(without, Refusal)
    assert without.reason is RefusalReason.MALFORMED
    assert "trailing" in without.detail
    (reading,) = readings(assembler(shipped("beurer-bm85")).feed("2a35", data, RECEIVED))
    assert {m.value: q.value for m, q in reading.values.items()} == {
        "systolic": 135,
        "diastolic": 85,
        "mean_arterial": 102,
        "pulse": 72,
    }
    assert reading.flags == ["irregular_pulse"]
    assert reading.measured_at == datetime(2024, 7, 1, 9, 40, tzinfo=LONDON)
    assert [r.payload() for r in reading.raw] == [data]  # raw is what the device sent, before the quirk


def test_a_bm85_capture_through_its_catalogue_entry_keeps_the_user_and_has_no_mean() -> None:
    """Two readings captured from a real BM85 (tests/gatt/test_bm85_captures.py: two users of one
    cuff) through the model the shipped catalogue picks for a cuff advertising "BM85"."""
    from tests.gatt.test_bm85_captures import CAPTURES

    model = load_catalogue().match("BM85", ["1810"], {})
    assert model is not None
    first, second = (bytes(CAPTURES[name][0]) for name in ("first user", "second user"))
    (reading,) = readings(assembler(model).feed("2a35", first, RECEIVED))
    assert {m.value: q.value for m, q in reading.values.items()} == {
        "systolic": 106,
        "diastolic": 71,
        "pulse": 63,
    }
    assert reading.device.user_index == 0
    (other,) = readings(assembler(model).feed("2a35", second, RECEIVED))
    assert other.device.user_index == 1
    assert reading.reading_id != other.reading_id


def test_replayed_burst_gives_the_same_ids() -> None:
    """An A&D cuff that re-sends its memory on the next connection must not create duplicates."""
    model = shipped("and-ua-651ble")
    burst = [
        encode_blood_pressure_measurement(
            130 + i, 80, 95, timestamp=datetime(2024, 6, 30, 8, i), pulse_rate=70
        )
        for i in range(3)
    ]  # encoder
    first = [r.reading_id for data in burst for r in readings(assembler(model).feed("2a35", data, RECEIVED))]
    later = RECEIVED + timedelta(hours=1)
    again = [r.reading_id for data in burst for r in readings(assembler(model).feed("2a35", data, later))]
    assert first == again
    assert len(set(first)) == 3


def test_malformed_packets_are_refusals_not_exceptions() -> None:
    session = assembler(shipped("and-ua-651ble"))
    (short,) = session.feed("2a35", h("01 02 03 04 05 06"), RECEIVED)  # doc vector: too short
    (no_time,) = session.feed("2a35", h("03 02 03 04 05 06 07"), RECEIVED)  # doc vector: timestamp missing
    (bad_uuid,) = session.feed("not-a-uuid", b"\x00", RECEIVED)
    for refusal in (short, no_time, bad_uuid):
        assert isinstance(refusal, Refusal)
        assert refusal.reason is RefusalReason.MALFORMED
