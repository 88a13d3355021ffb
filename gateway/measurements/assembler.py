"""Everything between "a notification arrived" and "readings to put in the outbox", for one connection.

Stateful per connection, still pure: the BLE session stays thin, and the whole path from bytes to
readings is tested without a radio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo

from common.wire.messages import DeviceIdentity, Reading
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.catalogue.models import DeviceModel, Mode, Profile
from gateway.gatt import decode, uuids
from gateway.gatt.berrymed import DEFAULT_FRAME_RATE_HZ, BerryMedStreamParser, SpotReadingDetector
from gateway.gatt.errors import DecodeError
from gateway.gatt.pulse_oximetry import PlxContinuous
from gateway.gatt.steady_window import DEFAULT_WINDOW_SECONDS
from gateway.measurements.continuous import PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ, ContinuousSpotAggregator
from gateway.measurements.mapping import to_readings
from gateway.measurements.refusals import Refusal, RefusalReason
from gateway.measurements.wire_ids import reading_id_for, wire_uuid
from gateway.reading_builder import build_reading

__all__ = ["ReadingAssembler"]


class ReadingAssembler:
    """Everything between "a notification arrived" and "readings to put in the outbox", for one
    connection to one device. The BLE session creates one per connection and calls ``feed``.

    Continuous devices have no clock, so their readings are stamped by the hub (``received_at`` of the
    notification that completed the steady window) and carry that notification as ``raw``.
    """

    __slots__ = ("_aggregator", "_berrymed", "_detector", "device", "model", "tz")

    def __init__(
        self,
        model: DeviceModel,
        device: DeviceIdentity,
        tz: tzinfo,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self.model = model
        self.device = device
        self.tz = tz
        self._berrymed = BerryMedStreamParser()
        self._detector = SpotReadingDetector.for_frame_rate(
            model.frame_rate_hz or DEFAULT_FRAME_RATE_HZ, window_seconds
        )
        self._aggregator = ContinuousSpotAggregator.for_frame_rate(
            model.frame_rate_hz or PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ, window_seconds
        )

    def feed(
        self,
        characteristic_uuid: str,
        data: bytes | bytearray,
        received_at: datetime,
        *,
        flags: Iterable[StatusFlag] = (),
    ) -> list[Reading | Refusal]:
        """Readings (and refusals to log) from one notification/indication. An empty list means the data
        was absorbed into a continuous window that has not produced a reading yet."""
        raw = bytes(data)
        try:
            uuid_ = uuids.normalize_uuid(characteristic_uuid)
        except DecodeError as e:
            return [Refusal(RefusalReason.MALFORMED, str(e), characteristic_uuid, raw)]
        if uuid_ == uuids.BERRYMED_NOTIFY:
            return self._feed_berrymed(uuid_, raw, received_at, flags)
        try:
            measurement = decode(uuid_, raw, quirks=self.model.quirks)
        except DecodeError as e:
            return [Refusal(RefusalReason.MALFORMED, str(e), uuid_, raw)]
        if isinstance(measurement, PlxContinuous):
            if self.model.mode is not Mode.CONTINUOUS:
                return [
                    Refusal(
                        RefusalReason.NOT_A_READING,
                        f"live PLX continuous frame; {self.model.id} reports spot-check readings",
                        uuid_,
                        raw,
                    )
                ]
            spot = self._aggregator.feed(measurement)
            if spot is None:
                return []
            values = {Measure.SPO2: spot.spo2_percent, Measure.PULSE: spot.pulse_rate_bpm}
            if spot.perfusion_index is not None:
                values[Measure.PERFUSION_INDEX] = spot.perfusion_index
            return [self._hub_stamped(values, [*spot.flags, *flags], uuid_, raw, received_at)]
        result = to_readings(
            measurement,
            characteristic_uuid=uuid_,
            raw=raw,
            device=self.device,
            received_at=received_at,
            tz=self.tz,
            flags=flags,
        )
        return [result] if isinstance(result, Refusal) else list(result)

    def _feed_berrymed(
        self, uuid_: str, raw: bytes, received_at: datetime, flags: Iterable[StatusFlag]
    ) -> list[Reading | Refusal]:
        if self.model.profile is not Profile.BERRYMED:
            return [
                Refusal(RefusalReason.NOT_A_READING, f"{self.model.id} is not a BerryMed device", uuid_, raw)
            ]
        out: list[Reading | Refusal] = []
        for spot in self._detector.feed_many(self._berrymed.feed(raw)):
            values: Mapping[Measure, float] = {
                Measure.SPO2: spot.spo2_percent,
                Measure.PULSE: spot.pulse_rate_bpm,
            }
            out.append(self._hub_stamped(values, list(flags), uuid_, raw, received_at))
        return out

    def _hub_stamped(
        self,
        values: Mapping[Measure, float],
        flags: Sequence[StatusFlag],
        uuid_: str,
        raw: bytes,
        received_at: datetime,
    ) -> Reading:
        return build_reading(
            kind=ReadingKind.SPO2,
            values=values,
            device=self.device,
            received_at=received_at,
            flags=flags,
            raw=[(wire_uuid(uuid_), raw)],
            reading_id=reading_id_for(self.device.address, uuid_, raw, device_timestamped=False),
        )

    def reset(self) -> None:
        """Call on disconnect: a window must not straddle two connections."""
        self._berrymed.reset()
        self._detector.reset()
        self._aggregator.reset()
