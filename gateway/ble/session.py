"""One connection to one device: connect, bond, identify, set the clock, subscribe, collect.

The order matters for real devices. A&D cuffs indicate their memory as soon as the hub
subscribes and hang up right after, so everything the hub wants from them (bond, Device
Information, clock) happens before the first subscription. The session ends when the device
disconnects (normal for burst-then-disconnect models), when it stays silent for
``idle_timeout`` (the hub frees the radio), or when the hub stops.

Every notification goes ``gateway.measurements.assembler.ReadingAssembler`` → dedupe → sink. Dedupe is
by reading id: stored readings have deterministic ids (same bytes → same id), so a burst that
is re-sent after a cut connection yields nothing new, while readings without a device
timestamp get fresh ids and are never merged. A packet the decoders refuse goes to the same
sink as an ``UndecodedPacket`` (the bytes as received, the reason): it may be the patient's
reading, and a log line on the hub would be the last anyone saw of it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError, BleakError
from bleak_retry_connector import establish_connection

from common.wire.messages import DeviceIdentity, Reading, printable_line
from common.wire.undecoded import UndecodedPacket
from common.wire.vocabulary import StatusFlag
from gateway.ble.seen import SeenReadings
from gateway.catalogue.models import Bonding, ClockSetting, DeviceModel, StoredReadings
from gateway.gatt import DecodeError, decode, uuids
from gateway.gatt.date_time import AdjustReason, encode_current_time, encode_date_time
from gateway.gatt.device_information import BatteryLevel, DeviceInformationString
from gateway.gatt.racp import RacpResponse, report_all_records
from gateway.measurements.assembler import ReadingAssembler
from gateway.measurements.refusals import Refusal
from gateway.measurements.undecoded import is_undecodable, undecoded_packet

log = logging.getLogger(__name__)

#: Where readings, and packets the hub could not decode, are handed on (the spill-over, then the outbox).
ReadingSink = Callable[[Reading | UndecodedPacket], object]
Clock = Callable[[], datetime]

DEFAULT_IDLE_TIMEOUT_S = 120.0
DEFAULT_CONNECT_ATTEMPTS = 3
_ATT_CODE = re.compile(r"0x([0-9A-Fa-f]{2})\b")
_DIS_FIELDS = (
    uuids.MANUFACTURER_NAME_STRING,
    uuids.MODEL_NUMBER_STRING,
    uuids.SERIAL_NUMBER_STRING,
    uuids.FIRMWARE_REVISION_STRING,
)


class DeviceSessionError(RuntimeError):
    """A session could not do its job (connect, bond, or subscribe to an essential characteristic).

    Raised, never swallowed: the per-device loop logs it and waits for the next advertisement.
    """


def utc_now() -> datetime:
    return datetime.now(UTC)


def att_error_code(error: BaseException) -> int | None:
    """The ATT error code BlueZ reports in a failed GATT operation ("... ATT error: 0x80")."""
    text = " ".join(
        str(part)
        for part in (
            getattr(error, "dbus_error_details", None),
            str(error),
        )
        if part
    )
    match = _ATT_CODE.search(text)
    return int(match.group(1), 16) if match else None


@dataclass
class SessionReport:
    """What one connection achieved; logged, and asserted on in tests."""

    address: str
    model_id: str
    identity: DeviceIdentity | None = None
    paired: bool = False
    clock_written: datetime | None = None
    clock_refused: int | None = None  # ATT error code of a refused clock write
    battery_percent: int | None = None
    subscribed: list[str] = field(default_factory=list)
    readings: int = 0
    duplicates: int = 0
    refusals: int = 0
    undecodable: int = 0  # packets the decoders refused, handed on as UndecodedPacket
    ended_by: str = ""  # "device", "idle", "stop"
    started: float = field(default_factory=time.monotonic)


class DeviceSession:
    """One connection. Create a new one per connection; ``run`` returns when the link is gone."""

    def __init__(
        self,
        device: BLEDevice,
        model: DeviceModel,
        *,
        sink: ReadingSink,
        seen: SeenReadings,
        tz: tzinfo,
        adapter: str | None = None,
        now: Clock = utc_now,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.device = device
        self.model = model
        self.sink = sink
        self.seen = seen
        self.tz = tz
        self.adapter = adapter
        self.now = now
        self.idle_timeout = idle_timeout
        self.connect_attempts = connect_attempts
        self.stop = stop if stop is not None else asyncio.Event()
        self.address = device.address.upper()
        self.report = SessionReport(self.address, model.id)
        self._disconnected = asyncio.Event()
        self._activity = asyncio.Event()
        self._assembler: ReadingAssembler | None = None
        self._racp_pending = False

    # -- the session ---------------------------------------------------------------------------
    async def run(self) -> SessionReport:
        client = await self._connect()
        try:
            await self._prepare(client)
            await self._subscribe(client)
            await self._collect()
        except BleakError as e:
            if not self._disconnected.is_set():
                raise DeviceSessionError(f"{self._label()}: {e}") from e
            # The device hung up while we were still setting up: a cuff that was switched off, or
            # one that had nothing to send. Not an error; the next advertisement starts over.
            log.info("%s: disconnected during setup (%s)", self._label(), e)
            self.report.ended_by = "device"
        finally:
            if self._assembler is not None:
                self._assembler.reset()
            if client.is_connected:
                try:
                    await client.disconnect()
                except (TimeoutError, BleakError, OSError) as e:
                    log.debug("%s: disconnect: %s", self._label(), e)
        log.info(
            "%s: session ended by %s: %d new reading(s), %d duplicate(s), %d refused (%d undecodable)",
            self._label(),
            self.report.ended_by or "error",
            self.report.readings,
            self.report.duplicates,
            self.report.refusals,
            self.report.undecodable,
        )
        return self.report

    def _label(self) -> str:
        return f"{self.model.id} {self.address}"

    async def _connect(self) -> BleakClient:
        def on_disconnect(_: BleakClient) -> None:
            self._disconnected.set()
            self._activity.set()

        try:
            client = await establish_connection(
                BleakClient,
                self.device,
                self._label(),
                disconnected_callback=on_disconnect,
                max_attempts=self.connect_attempts,
                bluez={"adapter": self.adapter} if self.adapter is not None else {},
            )
        except (TimeoutError, BleakError, OSError) as e:
            raise DeviceSessionError(f"{self._label()}: cannot connect: {e}") from e
        log.info("%s: connected", self._label())
        return client

    async def _prepare(self, client: BleakClient) -> None:
        if self.model.bonding is Bonding.REQUIRED:
            await self._pair(client)
        info = await self._read_device_information(client)
        self.report.identity = self.model.identity(
            self.address, serial=info.get("serial_number"), firmware=info.get("firmware_revision")
        )
        self._assembler = ReadingAssembler(self.model, self.report.identity, self.tz)
        await self._read_battery(client)
        await self._set_clock(client)

    async def _pair(self, client: BleakClient) -> None:
        # Connect first, then pair: BlueZ pairs over the existing LE link, and a pairing that
        # fails leaves a connection we can still report on instead of a bare timeout.
        try:
            await client.pair()
        except BleakError as e:
            raise DeviceSessionError(f"{self._label()}: pairing failed: {e}") from e
        self.report.paired = True
        log.info("%s: bonded", self._label())

    @staticmethod
    def _characteristic(client: BleakClient, uuid: str) -> BleakGATTCharacteristic | None:
        return client.services.get_characteristic(uuid)

    async def _read_device_information(self, client: BleakClient) -> dict[str, str]:
        info: dict[str, str] = {}
        for uuid in _DIS_FIELDS:
            char = self._characteristic(client, uuid)
            if char is None or "read" not in char.properties:
                continue
            try:
                value = decode(uuid, await client.read_gatt_char(char))
            except (BleakError, DecodeError) as e:
                log.warning("%s: cannot read %s: %s", self._label(), uuids.display_name(uuid), e)
                continue
            if isinstance(value, DeviceInformationString) and value.value.strip():
                # A control character in a device's own strings must not cost its readings
                # (the contract refuses them), so it becomes a space here.
                info[value.field] = printable_line(value.value.strip(), 64)
        log.info("%s: device information %s", self._label(), info or "not available")
        return info

    async def _read_battery(self, client: BleakClient) -> None:
        char = self._characteristic(client, uuids.BATTERY_LEVEL)
        if char is None or "read" not in char.properties:
            return
        try:
            value = decode(uuids.BATTERY_LEVEL, await client.read_gatt_char(char))
        except (BleakError, DecodeError) as e:
            log.debug("%s: battery level: %s", self._label(), e)
            return
        if isinstance(value, BatteryLevel):
            self.report.battery_percent = value.percent
            log.info("%s: battery %d %%", self._label(), value.percent)

    def _local_now(self) -> datetime:
        """The household's wall-clock time: what a device clock should show."""
        return self.now().astimezone(self.tz).replace(tzinfo=None)

    async def _set_clock(self, client: BleakClient) -> None:
        if self.model.clock is ClockSetting.NONE:
            return
        if self.model.clock is ClockSetting.CURRENT_TIME:
            uuid = uuids.CURRENT_TIME
            local = self._local_now()
            payload = encode_current_time(
                local, adjust_reason=AdjustReason(external_reference_time_update=True)
            )
        else:
            uuid = uuids.DATE_TIME
            local = self._local_now()
            payload = encode_date_time(local)
        char = self._characteristic(client, uuid)
        if char is None:
            log.info(
                "%s: no %s characteristic; device clock not set", self._label(), uuids.display_name(uuid)
            )
            return
        try:
            await client.write_gatt_char(char, payload, response=True)
        except BleakError as e:
            code = att_error_code(e)
            self.report.clock_refused = code
            log.warning(
                "%s: device refused the clock write to %s (%s); readings fall back to the hub clock "
                "when the device time looks wrong",
                self._label(),
                uuids.display_name(uuid),
                f"ATT error 0x{code:02X}" if code is not None else e,
            )
            if isinstance(e, BleakDBusError) or code is not None:
                return
            raise
        self.report.clock_written = local
        log.info("%s: clock set to %s via %s", self._label(), local.isoformat(), uuids.display_name(uuid))

    async def _subscribe(self, client: BleakClient) -> None:
        for spec in self.model.characteristics:
            char = self._characteristic(client, spec.uuid)
            if char is None:
                if spec.required:
                    raise DeviceSessionError(
                        f"{self._label()}: device has no {uuids.display_name(spec.uuid)}, which the "
                        "catalogue says it must have (wrong model match?)"
                    )
                continue
            await client.start_notify(char, self._make_handler(spec.uuid))
            self.report.subscribed.append(spec.uuid)
        if self.model.stored_readings is StoredReadings.RACP:
            char = self._characteristic(client, uuids.RECORD_ACCESS_CONTROL_POINT)
            if char is not None:
                self._racp_pending = True
                await client.write_gatt_char(char, report_all_records(), response=True)
        log.info(
            "%s: subscribed to %s",
            self._label(),
            ", ".join(uuids.display_name(u) for u in self.report.subscribed),
        )

    def _make_handler(self, uuid: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def handler(_: BleakGATTCharacteristic, data: bytearray) -> None:
            self._activity.set()
            try:
                self._received(uuid, bytes(data))
            except Exception:
                # A bad packet or a full disk must not kill the session silently mid-burst; the
                # outbox error is logged loudly and the reading stays on the device for next time.
                log.exception(
                    "%s: handling %s %s failed", self._label(), uuids.display_name(uuid), data.hex()
                )

        return handler

    def _received(self, uuid: str, data: bytes) -> None:
        assert self._assembler is not None
        received_at = self.now()
        flags = (StatusFlag.FROM_STORAGE,) if self._racp_pending else ()
        for item in self._assembler.feed(uuid, data, received_at, flags=flags):
            if isinstance(item, Refusal):
                self._refused(item, data, received_at)
                continue
            if item.reading_id in self.seen:
                self.report.duplicates += 1
                log.debug("%s: already have reading %s", self._label(), item.reading_id)
                continue
            self.sink(item)
            self.seen.add(item.reading_id)
            self.report.readings += 1
            log.info(
                "%s: %s reading %s %s",
                self._label(),
                item.kind.value,
                {m.value: q.value for m, q in item.values.items()},
                item.taken_at.isoformat(),
            )

    def _refused(self, refusal: Refusal, data: bytes, received_at: datetime) -> None:
        if uuids.normalize_uuid(refusal.characteristic_uuid) == uuids.RECORD_ACCESS_CONTROL_POINT:
            try:
                response = decode(uuids.RECORD_ACCESS_CONTROL_POINT, data)
            except DecodeError:
                response = None
            if isinstance(response, RacpResponse):
                self._racp_pending = False
                log.info("%s: stored-record transfer finished: %s", self._label(), response)
            return
        if refusal.reason.value == "not_a_reading":
            log.debug("%s: %s", self._label(), refusal)
            return
        self.report.refusals += 1
        log.warning("%s: no reading from %s", self._label(), refusal)
        if is_undecodable(refusal):
            assert self._assembler is not None  # set before any notification is subscribed to
            packet = undecoded_packet(refusal, self._assembler.device, received_at)
            self.sink(packet)
            self.report.undecodable += 1
            log.warning(
                "%s: packet kept as undecoded packet %s for the server", self._label(), packet.packet_id
            )

    async def _collect(self) -> None:
        stop_task = asyncio.ensure_future(self.stop.wait())
        try:
            while not self._disconnected.is_set():
                if self.stop.is_set():
                    self.report.ended_by = "stop"
                    return
                self._activity.clear()
                activity = asyncio.ensure_future(self._activity.wait())
                try:
                    done, _ = await asyncio.wait(
                        {activity, stop_task}, timeout=self.idle_timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    activity.cancel()
                if not done:
                    self.report.ended_by = "idle"
                    log.info("%s: silent for %.0fs; disconnecting", self._label(), self.idle_timeout)
                    return
            self.report.ended_by = "device"
        finally:
            stop_task.cancel()
