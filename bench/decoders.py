"""Decode throughput of the GATT decoders, per characteristic.

Run: ``.venv/bin/python bench/decoders.py [--count N | --seconds S]``. Prints decodes per second; no
assertions, the numbers are for comparing changes on the same machine (e.g. a Raspberry Pi hub).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.gatt import decode, uuids
from gateway.gatt.berrymed import BerryMedStreamParser, encode_berrymed_frame
from gateway.gatt.blood_pressure import BloodPressureStatus, PulseRange, encode_blood_pressure_measurement
from gateway.gatt.pulse_oximetry import encode_plx_continuous, encode_plx_spot_check
from gateway.gatt.thermometer import TemperatureType, encode_temperature_measurement
from gateway.gatt.weight_scale import encode_weight_measurement

WHEN = datetime(2024, 5, 6, 7, 8, 9)

CASES: list[tuple[str, str, bytes]] = [
    (
        "0x2A35 BP, all fields",
        uuids.BLOOD_PRESSURE_MEASUREMENT,
        encode_blood_pressure_measurement(
            128,
            82,
            97,
            timestamp=WHEN,
            pulse_rate=72,
            user_id=1,
            status=BloodPressureStatus(irregular_pulse=True, pulse_range=PulseRange.ABOVE),
        ),
    ),
    (
        "0x2A5E PLX spot-check, all fields",
        uuids.PLX_SPOT_CHECK_MEASUREMENT,
        encode_plx_spot_check(
            97,
            64,
            timestamp=WHEN,
            measurement_status=0x0020,
            device_sensor_status=0,
            pulse_amplitude_index=2.5,
        ),
    ),
    (
        "0x2A5F PLX continuous, all fields",
        uuids.PLX_CONTINUOUS_MEASUREMENT,
        encode_plx_continuous(
            98,
            70,
            fast=(97, 71),
            slow=(99, 69),
            measurement_status=0x0020,
            device_sensor_status=0,
            pulse_amplitude_index=8.7,
        ),
    ),
    (
        "0x2A9D weight, all fields",
        uuids.WEIGHT_MEASUREMENT,
        encode_weight_measurement(82.35, timestamp=WHEN, user_id=2, bmi=26.9, height=1.75),
    ),
    (
        "0x2A1C temperature, all fields",
        uuids.TEMPERATURE_MEASUREMENT,
        encode_temperature_measurement(37.2, timestamp=WHEN, temperature_type=TemperatureType.MOUTH),
    ),
    ("BerryMed frame via decode()", uuids.BERRYMED_NOTIFY, encode_berrymed_frame(97, 72, pleth=50)),
]


def _measure(run: Callable[[], object], count: int | None, seconds: float) -> tuple[int, float]:
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    batch = 1000
    while True:
        for _ in range(batch):
            run()
        done += batch
        now = time.perf_counter()
        if (count is not None and done >= count) or (count is None and now >= deadline):
            return done, now - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--count", type=int, help="decodes per characteristic (rounded up to 1000)")
    group.add_argument("--seconds", type=float, default=1.0, help="time per characteristic (default 1 s)")
    args = parser.parse_args(argv)

    print(f"{'characteristic':40} {'decodes/s':>12} {'µs/decode':>10}")
    for label, uuid, data in CASES:
        done, elapsed = _measure(functools.partial(decode, uuid, data), args.count, args.seconds)
        print(f"{label:40} {done / elapsed:12,.0f} {elapsed / done * 1e6:10.2f}")

    stream = encode_berrymed_frame(97, 72, pleth=50) * 4  # a 20-byte notification
    splitter = BerryMedStreamParser()
    done, elapsed = _measure(lambda: splitter.feed(stream), args.count, args.seconds)
    print(
        f"{'BerryMed stream parser (frames)':40} {4 * done / elapsed:12,.0f} {elapsed / done / 4 * 1e6:10.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
