"""Temperature Measurements (0x2A1C) published from real Health Thermometer devices, decoded through
the model the shipped catalogue picks and through the hub's path to a reading.

Where the bytes come from (byte for byte; the expected values are the ones each source gives):

* A thermometer read from a Xamarin app: the Stack Overflow question "How to extract temperature
  decimal value from a Bluetooth LE (SIG) hex value" (question 54834439, stored as the mirror
  https://example-a.com/answer/54834439), which lists the bytes next to the temperature the device
  showed: "For 36.0 celsius i got 06-68-01-00-FF-E2-07-03-0A-15-34-00-02", and 36.2, 36.8, 34.6.
  The device is not named. FLOAT with exponent -1, a timestamp of 2018-03-10 and site 2 (body).
* A Health Thermometer peripheral logged on the B4X forum, thread "iBLE HealtThermometer (solved)"
  (https://www.b4x.com/android/forum/threads/ible-healtthermometer-solved.64232/): eleven "Temp Hex"
  lines from 06B00E00FEDC070C050B092704 on, whose author expected values "between 37°C and 39°C"
  ("39.4°C or 37.92°C"). FLOAT with exponent -2, a timestamp of 2012-12-05 and site 4 (finger); the
  device is not named either.
"""

from __future__ import annotations

import pytest

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from gateway.gatt import decode
from gateway.gatt.thermometer import TemperatureMeasurement, TemperatureType, TemperatureUnit
from tests.gatt.hub_path import local, model_for, one_reading, received_after

# hex: (°C the device showed, device time on 2018-03-10 (h, m))
STACK_OVERFLOW = {
    "06680100FFE207030A15340002": (36.0, (21, 52)),
    "066A0100FFE207030A14140002": (36.2, (20, 20)),
    "06700100FFE207030A141B0002": (36.8, (20, 27)),
    "065A0100FFE207030A141F0002": (34.6, (20, 31)),
}
# hex: (°C, device time on 2012-12-05 (h, m, s)), in the order of the forum post
B4X_FORUM = {
    "06B00E00FEDC070C050B092704": (37.60, (11, 9, 39)),
    "06D40E00FEDC070C050B0A0604": (37.96, (11, 10, 6)),
    "06F80E00FEDC070C050B0A2104": (38.32, (11, 10, 33)),
    "061C0F00FEDC070C050B0B0004": (38.68, (11, 11, 0)),
    "06400F00FEDC070C050B0B1B04": (39.04, (11, 11, 27)),
    "06640F00FEDC070C050B0B3604": (39.40, (11, 11, 54)),
    "06840F00FEDC070C050B0C1504": (39.72, (11, 12, 21)),
    "06600F00FEDC070C050B0C3004": (39.36, (11, 12, 48)),
    "063C0F00FEDC070C050B0D0F04": (39.00, (11, 13, 15)),
    "06180F00FEDC070C050B0D2A04": (38.64, (11, 13, 42)),
    "06F40E00FEDC070C050B0E0904": (38.28, (11, 14, 9)),
}


def _check(hex_bytes: str, celsius: float, taken: tuple[int, ...], site: TemperatureType) -> None:
    data = bytes.fromhex(hex_bytes)
    model = model_for(None, ["1809"])
    assert model.id == "generic-thermometer" and model.quirks == ()
    value = decode("2a1c", data, quirks=model.quirks)
    assert isinstance(value, TemperatureMeasurement)
    assert value.temperature_c == celsius  # exact: 37.6, not 37.599999
    assert value.unit is TemperatureUnit.CELSIUS
    assert value.temperature_type is site
    assert value.measured_at is not None and value.measured_at.timetuple()[:6] == taken

    when = local(*taken)
    reading = one_reading(model, "2a1c", data, received_after(when))
    assert reading.kind is ReadingKind.TEMPERATURE
    assert reading.values.keys() == {Measure.TEMPERATURE}
    assert reading.value(Measure.TEMPERATURE) == celsius
    assert (reading.taken_at, reading.time_source, reading.flags) == (when, TimeSource.DEVICE, [])


@pytest.mark.parametrize("hex_bytes", STACK_OVERFLOW)
def test_each_stack_overflow_capture_reads_as_the_thermometer_displayed(hex_bytes: str) -> None:
    celsius, (hour, minute) = STACK_OVERFLOW[hex_bytes]
    _check(hex_bytes, celsius, (2018, 3, 10, hour, minute, 0), TemperatureType.BODY)


@pytest.mark.parametrize("hex_bytes", B4X_FORUM)
def test_each_b4x_forum_capture_reads_in_hundredths_of_a_degree(hex_bytes: str) -> None:
    celsius, (hour, minute, second) = B4X_FORUM[hex_bytes]
    _check(hex_bytes, celsius, (2012, 12, 5, hour, minute, second), TemperatureType.FINGER)


def test_the_forum_captures_lie_where_their_author_said() -> None:
    """The thread's author expected 37-39 °C and got a nonsense number reading the slot as an
    IEEE-754 float; as IEEE-11073 FLOAT the whole series is a plausible curve, 37.6-39.72 °C."""
    values = []
    for hex_bytes in B4X_FORUM:
        value = decode("2a1c", bytes.fromhex(hex_bytes))
        assert isinstance(value, TemperatureMeasurement) and value.temperature_c is not None
        values.append(value.temperature_c)
    assert (min(values), max(values)) == (37.6, 39.72)
