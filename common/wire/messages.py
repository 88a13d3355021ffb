"""The JSON messages that cross the broker, as pydantic models.

``ReadingBatch`` is the hub's unit of delivery: one MQTT message, QoS 1, on the hub's
``readings`` topic. The server refuses (dead-letters, with a reason) anything that does not
validate here; it never repairs a medical reading by guessing.

Versioning: ``schema`` names the major version. Additive, optional fields keep the major
version; anything a v1 server could misread takes a new major version and a new topic root.
An optional field is left out while it says nothing (``None``), so a message that does not use
it is exactly what an older receiver knows.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from common.wire.addresses import BLUETOOTH_ADDRESS_PATTERN, DEVICE_ADDRESS_PATTERN
from common.wire.feedback_prefs import PatientFeedback

# The building blocks moved to ``schemas.py``; named here too, where every importer found them.
from common.wire.schemas import AwareDatetime as AwareDatetime
from common.wire.schemas import DeviceIdentity as DeviceIdentity
from common.wire.schemas import LineText as LineText
from common.wire.schemas import ShortText as ShortText
from common.wire.schemas import _Message as _Message
from common.wire.schemas import _Strict as _Strict
from common.wire.schemas import printable_line as printable_line
from common.wire.topics import HUB_ID_PATTERN
from common.wire.undecoded import UndecodedPacket
from common.wire.vocabulary import (
    KIND_MEASURES,
    KIND_REQUIRED,
    MEASURES,
    CheckStatus,
    HubCheckName,
    Measure,
    ReadingKind,
)

SCHEMA_V1: Final = "carewatch.readings.v1"
TELEMETRY_V1: Final = "carewatch.telemetry.v1"
REMOTE_CONFIG_V1: Final = "carewatch.hubconfig.v1"
RECEIPTS_V1: Final = "carewatch.receipts.v1"
MAX_DEVICES_PER_HUB = 32
MAX_READINGS_PER_BATCH = 500
#: No message on any channel may be larger: the broker refuses bigger ones (``message_size_limit``,
#: an error PUBACK to an MQTT v5 client) and the hub splits its batches to stay under it. One
#: reading, even with every raw characteristic at its maximum, is far smaller.
MAX_MESSAGE_BYTES = 256 * 1024
#: How far ahead of its receiver's clock a timestamp may be: the hub does not trust a device
#: clock further ahead than this, and the server refuses a reading stamped further ahead.
CLOCK_TOLERANCE = timedelta(minutes=5)
FLAG_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class TimeSource(StrEnum):
    """Which clock ``taken_at`` comes from."""

    DEVICE = "device"  # the device stamped the reading and its clock looked right
    HUB = "hub"  # no device time, or the device clock was unset or skewed


class Quantity(_Strict):
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(description="UCUM code; must be the measure's canonical unit")


class RawCharacteristic(_Strict):
    uuid: str = Field(pattern=r"^[0-9a-f]{4}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    data: str = Field(max_length=1024, description="base64 of the characteristic value as received")

    @field_validator("data")
    @classmethod
    def _base64(cls, v: str) -> str:
        try:
            base64.b64decode(v, validate=True)
        except binascii.Error as e:
            raise ValueError(f"not base64: {e}") from None
        return v

    def payload(self) -> bytes:
        return base64.b64decode(self.data)


class Reading(_Strict):
    reading_id: UUID = Field(description="globally unique; the idempotency key end to end")
    kind: ReadingKind
    values: dict[Measure, Quantity] = Field(min_length=1)
    taken_at: AwareDatetime = Field(description="when the reading was taken, by the trusted clock")
    time_source: TimeSource
    measured_at: AwareDatetime | None = Field(default=None, description="the device's own timestamp")
    received_at: AwareDatetime = Field(description="when the hub received it, by the hub clock")
    device: DeviceIdentity
    flags: list[Annotated[str, Field(pattern=FLAG_PATTERN)]] = Field(default_factory=list, max_length=32)
    raw: list[RawCharacteristic] = Field(default_factory=list, max_length=16)

    @field_validator("taken_at", "measured_at", "received_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.utcoffset() is None:
            raise ValueError("timestamp must carry a UTC offset")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Reading:
        allowed = KIND_MEASURES[self.kind]
        extra = set(self.values) - allowed
        if extra:
            raise ValueError(f"{self.kind} cannot carry {sorted(extra)}")
        missing = KIND_REQUIRED[self.kind] - set(self.values)
        if missing:
            raise ValueError(f"{self.kind} needs {sorted(missing)}")
        for measure, q in self.values.items():
            expected = MEASURES[measure].unit.ucum
            if q.unit != expected:
                raise ValueError(f"{measure} must be in {expected!r}, got {q.unit!r}")
        if self.time_source is TimeSource.DEVICE and self.measured_at != self.taken_at:
            raise ValueError("time_source 'device' means taken_at is the device's measured_at")
        if self.time_source is TimeSource.HUB and self.received_at != self.taken_at:
            raise ValueError("time_source 'hub' means taken_at is the hub's received_at")
        return self

    def value(self, measure: Measure) -> float | None:
        q = self.values.get(measure)
        return None if q is None else q.value


class BatchHeader(_Message):
    """A batch without its readings: what the server can still trust about a message one of
    whose readings is malformed, so the rest of it is judged reading by reading."""

    schema_: Literal["carewatch.readings.v1"] = Field(alias="schema", default=SCHEMA_V1)
    batch_id: UUID
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    sent_at: AwareDatetime = Field(description="by the hub clock; the server learns the hub's offset")


class ReadingBatch(BatchHeader):
    """Readings, or packets the hub could not decode (``undecoded``), never both in one batch:
    a server from before ``undecoded`` refuses a batch that has it, and must not take the
    readings beside them down with it. ``undecoded`` is left out when there are none, so a batch
    of readings is what it always was."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={
            "anyOf": [
                {"properties": {"readings": {"minItems": 1}}},
                {"required": ["undecoded"], "properties": {"undecoded": {"type": "array", "minItems": 1}}},
            ]
        },
    )

    readings: list[Reading] = Field(max_length=MAX_READINGS_PER_BATCH)
    undecoded: list[UndecodedPacket] | None = Field(
        default=None,
        max_length=MAX_READINGS_PER_BATCH,
        description="packets from paired devices the hub could not decode, kept as they came "
        "(then readings is empty); left out when there are none",
    )

    @model_validator(mode="after")
    def _something(self) -> ReadingBatch:
        if not self.readings and not self.undecoded:
            raise ValueError("a batch carries at least one reading or one undecoded packet")
        return self


class ReceiptOutcome(StrEnum):
    """What the server did with one reading. Every outcome means the server holds it durably,
    so the hub may forget it: stored (and judged), already stored before, or refused and kept
    as a dead letter with the reason."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


class ReceiptEntry(_Strict):
    reading_id: UUID = Field(description="the reading's reading_id, or an undecoded packet's packet_id")
    outcome: ReceiptOutcome
    reason: LineText | None = Field(default=None, description="why it was refused")


class ReadingReceipt(_Message):
    """The server's word, on the hub's ``receipts`` topic, that it holds these readings.

    The broker's PUBACK only says the broker took a message; a broker crash or a lost session
    can still drop it. The hub therefore keeps every reading until a receipt names it, and
    sends again what stays unconfirmed. Only the server can write this topic.
    """

    schema_: Literal["carewatch.receipts.v1"] = Field(alias="schema", default=RECEIPTS_V1)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    batch_id: UUID | None = Field(default=None, description="the batch these readings came in")
    at: AwareDatetime
    readings: list[ReceiptEntry] = Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)


class HubStatus(_Strict):
    state: Literal["online", "offline"]
    at: AwareDatetime | None = None
    software: ShortText | None = None


class DeviceTelemetry(_Strict):
    """What the hub knows of one paired device: enough for a technician to see a flat
    battery or a device that has stopped connecting before the patient's readings stop."""

    address: str = Field(pattern=DEVICE_ADDRESS_PATTERN)
    model: ShortText = Field(min_length=1)
    last_session_at: AwareDatetime | None = Field(default=None, description="end of the last connection")
    battery_percent: int | None = Field(default=None, ge=0, le=100)
    readings: int = Field(ge=0, description="readings received since the hub started")
    last_error: LineText | None = Field(default=None, max_length=200)
    rssi_dbm: int | None = Field(
        default=None,
        ge=-127,
        le=20,
        description="signal strength of the last advertisement the hub heard from it (dBm)",
    )
    firmware: ShortText | None = Field(
        default=None, description="firmware revision the device reported (Device Information service)"
    )
    undecodable: int | None = Field(
        default=None,
        ge=1,
        description="packets from it the hub could not decode since the hub started (each sent as an "
        "undecoded packet); left out while there are none",
    )


class HubCheck(_Strict):
    """One of the hub's self-checks as the hub saw it: what it found (``summary``, e.g.
    "Bluetooth adapter hci0 missing") and, unless it is fine, one plain sentence of what to do.
    The same record ``carewatch hub doctor`` prints and the telemetry carries, so the server's
    pages say what a technician on site would read."""

    name: HubCheckName
    status: CheckStatus
    summary: LineText = Field(min_length=1)
    fix: LineText | None = None


class HubTelemetry(_Message):
    """The hub's health, on its ``telemetry`` topic every few minutes (QoS 0: the next one
    replaces a lost one). Nothing clinical: no patient, no values."""

    schema_: Literal["carewatch.telemetry.v1"] = Field(alias="schema", default=TELEMETRY_V1)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    at: AwareDatetime
    software: ShortText = Field(min_length=1)
    uptime_s: int = Field(ge=0)
    outbox_depth: int = Field(
        default=0,
        ge=0,
        description="readings (and undecoded packets) stored on the hub that the server has not yet confirmed",
    )
    awaiting_receipt: int = Field(
        default=0, ge=0, description="of those, readings the broker took and the server has not confirmed"
    )
    quarantined: int = Field(
        default=0, ge=0, description="outbox rows the hub could not read back, kept aside on the hub"
    )
    outbox_error: LineText | None = Field(default=None, description="why the outbox cannot be read")
    oldest_unsent_at: AwareDatetime | None = Field(
        default=None, description="when the oldest reading still on the hub was stored there"
    )
    held_in_memory: int = Field(
        default=0, ge=0, description="readings the outbox could not take (disk full or failing)"
    )
    disk_free_bytes: int | None = Field(default=None, ge=0, description="free space where the outbox lives")
    config_version: int | None = Field(
        default=None, ge=1, description="the server configuration version the hub has applied"
    )
    config_error: LineText | None = Field(
        default=None, description="why the hub refused the last configuration it was sent"
    )
    devices: list[DeviceTelemetry] = Field(default_factory=list, max_length=MAX_DEVICES_PER_HUB)
    checks: list[HubCheck] = Field(
        default_factory=list,
        max_length=len(HubCheckName),
        description="the hub's self-checks (radio, clock, disk, certificates), as 'hub doctor' runs them",
    )


class PairedDeviceConfig(_Strict):
    address: str = Field(pattern=BLUETOOTH_ADDRESS_PATTERN, description="Bluetooth address")
    model_id: ShortText | None = Field(default=None, min_length=1, description="catalogue model id")
    user_index: int | None = Field(
        default=None,
        ge=0,
        le=254,
        description=(
            "the patient's user slot on a shared cuff or scale, as the device reports it; the "
            "server keeps a reading from another slot for review instead of giving it to the "
            "patient. Absent: every reading from the device is the patient's"
        ),
    )


class RemoteConfig(_Message):
    """The server's wishes for one hub, retained on the hub's ``config`` topic (QoS 1), so a
    hub that was off when a technician paired a device gets it when it next connects.

    It replaces, never patches: a ``paired_devices`` list, even empty, is the whole allowlist.
    ``None`` (``null``, or absent) says the server does not manage this hub's devices: the hub
    keeps the list a technician paired at it and applies the rest (its patient's preferences,
    the telemetry interval). The server writes that ``null`` out (``to_json``) rather than
    leaving the field out: a hub from before ``null`` refuses it (its schema wants a list) and
    keeps its devices, where an absent field would read as an empty list and unpair them all.
    Every configuration sent before ``null`` existed carries a list, so it means what it meant.
    ``version`` only grows; a hub applies a version newer than the one it has, ignores the rest.
    """

    schema_: Literal["carewatch.hubconfig.v1"] = Field(alias="schema", default=REMOTE_CONFIG_V1)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    version: int = Field(ge=1)
    issued_at: AwareDatetime
    paired_devices: list[PairedDeviceConfig] | None = Field(
        default=None,
        max_length=MAX_DEVICES_PER_HUB,
        description="the hub's whole allowlist (even empty); null or absent: the server does not "
        "manage this hub's devices, the hub keeps its own list",
    )
    telemetry_interval_s: float | None = Field(default=None, ge=10, le=86400)
    patient_feedback: PatientFeedback | None = Field(
        default=None, description="what the hub says to its patient (default: the hub's own settings)"
    )

    def to_json(self) -> bytes:
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["paired_devices"] = body.get("paired_devices")  # null said, never left out (see above)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def summarise_validation(e: ValidationError, limit: int = 5, *, what: str = "reading batch") -> str:
    """Why a message was refused, in one line for a dead letter or a hub's telemetry: the
    first ``limit`` problems, each with where in the message it is."""
    parts = [
        f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()[:limit]
    ]
    more = len(e.errors()) - limit
    return f"invalid {what}: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def json_schema() -> dict[str, object]:
    """The published JSON Schema of a reading batch (docs/wire/readings-v1.schema.json)."""
    return _published(ReadingBatch, "readings-v1", "CareWatch reading batch, version 1")


def telemetry_json_schema() -> dict[str, object]:
    """The published JSON Schema of hub telemetry (docs/wire/telemetry-v1.schema.json)."""
    return _published(HubTelemetry, "telemetry-v1", "CareWatch hub telemetry, version 1")


def remote_config_json_schema() -> dict[str, object]:
    """The published JSON Schema of a hub's remote configuration (docs/wire/hubconfig-v1.schema.json)."""
    return _published(RemoteConfig, "hubconfig-v1", "CareWatch hub configuration, version 1")


def receipts_json_schema() -> dict[str, object]:
    """The published JSON Schema of a reading receipt (docs/wire/receipts-v1.schema.json)."""
    return _published(ReadingReceipt, "receipts-v1", "CareWatch reading receipt, version 1")


def _published(model: type[BaseModel], name: str, title: str) -> dict[str, object]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://carewatch.example/schemas/{name}.schema.json"
    schema["title"] = title
    return schema
