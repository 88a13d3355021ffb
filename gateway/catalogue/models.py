"""What a catalogue file may declare: one device model and its parts, validated field by field.

Every check that needs only the file itself lives here (unknown quirk, characteristic without a decoder,
profile and mode that disagree), so a mistake is reported against the field that holds it; checks across
files (unique ids, distinguishable match rules) belong to ``gateway.catalogue.matching``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.wire.messages import DeviceIdentity
from common.wire.vocabulary import ReadingKind
from gateway.gatt import supported_characteristics, uuids
from gateway.gatt.errors import DecodeError, UnknownQuirkError
from gateway.gatt.quirks import validate_quirk_names

__all__ = [
    "PROFILE_CHARACTERISTIC",
    "PROFILE_KINDS",
    "PROFILE_MODE",
    "Bonding",
    "CharacteristicSpec",
    "ClockSetting",
    "DeviceModel",
    "MatchRule",
    "Mode",
    "Profile",
    "StoredReadings",
    "Subscribe",
]


class Profile(StrEnum):
    """How readings come out of a device; decides which measurement characteristic is essential."""

    BLOOD_PRESSURE = "blood_pressure"
    PLX_SPOT_CHECK = "plx_spot_check"
    PLX_CONTINUOUS = "plx_continuous"
    WEIGHT = "weight"
    THERMOMETER = "thermometer"
    BERRYMED = "berrymed"


class Subscribe(StrEnum):
    INDICATE = "indicate"
    NOTIFY = "notify"


class Bonding(StrEnum):
    REQUIRED = "required"
    NONE = "none"


class ClockSetting(StrEnum):
    CURRENT_TIME = "current_time"  # write Current Time 0x2A2B (Current Time service)
    DATE_TIME = "date_time"  # write Date Time 0x2A08 inside the profile service (A&D)
    NONE = "none"


class StoredReadings(StrEnum):
    BURST_THEN_DISCONNECT = "burst_then_disconnect"  # indicates its memory on connect, then hangs up
    RACP = "racp"  # the hub asks via Record Access Control Point 0x2A52
    NONE = "none"


class Mode(StrEnum):
    SPOT = "spot"  # every measurement indication is one reading
    CONTINUOUS = "continuous"  # a stream the hub condenses into one spot reading per steady window


#: The characteristic that carries a profile's readings; it must be listed by every model of the profile.
PROFILE_CHARACTERISTIC: Final[Mapping[Profile, str]] = {
    Profile.BLOOD_PRESSURE: uuids.BLOOD_PRESSURE_MEASUREMENT,
    Profile.PLX_SPOT_CHECK: uuids.PLX_SPOT_CHECK_MEASUREMENT,
    Profile.PLX_CONTINUOUS: uuids.PLX_CONTINUOUS_MEASUREMENT,
    Profile.WEIGHT: uuids.WEIGHT_MEASUREMENT,
    Profile.THERMOMETER: uuids.TEMPERATURE_MEASUREMENT,
    Profile.BERRYMED: uuids.BERRYMED_NOTIFY,
}

#: Reading kinds a profile can produce (``gateway.measurements.mapping`` maps exactly these).
PROFILE_KINDS: Final[Mapping[Profile, frozenset[ReadingKind]]] = {
    Profile.BLOOD_PRESSURE: frozenset({ReadingKind.BLOOD_PRESSURE}),
    Profile.PLX_SPOT_CHECK: frozenset({ReadingKind.SPO2}),
    Profile.PLX_CONTINUOUS: frozenset({ReadingKind.SPO2}),
    Profile.WEIGHT: frozenset({ReadingKind.WEIGHT}),
    Profile.THERMOMETER: frozenset({ReadingKind.TEMPERATURE}),
    Profile.BERRYMED: frozenset({ReadingKind.SPO2}),
}

#: ``mode`` is implied by the profile; it is still written in each file so a reader of the YAML sees
#: whether the hub aggregates a stream without knowing this table, and the loader checks they agree.
PROFILE_MODE: Final[Mapping[Profile, Mode]] = {
    Profile.BLOOD_PRESSURE: Mode.SPOT,
    Profile.PLX_SPOT_CHECK: Mode.SPOT,
    Profile.PLX_CONTINUOUS: Mode.CONTINUOUS,
    Profile.WEIGHT: Mode.SPOT,
    Profile.THERMOMETER: Mode.SPOT,
    Profile.BERRYMED: Mode.CONTINUOUS,
}


def _uuid(value: str, what: str) -> str:
    try:
        return uuids.normalize_uuid(value)
    except DecodeError:
        raise ValueError(
            f"{what} {value!r} is not a Bluetooth UUID (use 16-bit like '2a35' or 128-bit)"
        ) from None


def _is_sig(uuid: str) -> bool:
    return uuid.startswith("0000") and uuid.endswith(uuids.BLUETOOTH_BASE_UUID_SUFFIX)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchRule(_Strict):
    """How an advertisement is recognised. Every declared criterion must hold (see
    ``gateway.catalogue.matching.match_score``)."""

    names: tuple[str, ...] = Field(default=(), description="regexes searched in the advertised local name")
    service_uuids: tuple[str, ...] = ()
    manufacturer_ids: tuple[Annotated[int, Field(ge=0, le=0xFFFF)], ...] = ()

    @field_validator("names")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"bad regular expression {pattern!r}: {e}") from None
        return value

    @field_validator("service_uuids")
    @classmethod
    def _services(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for raw in value:
            uuid = _uuid(raw, "service UUID")
            # A 16-bit SIG service we do not know is almost certainly a typo (1801 for 1810); a vendor
            # 128-bit service is legitimately unknown and useful for recognising the device.
            if _is_sig(uuid) and uuid not in uuids.SERVICE_NAMES:
                known = sorted(uuids.display_name(u) for u in uuids.SERVICE_NAMES if _is_sig(u))
                raise ValueError(f"unknown SIG service {uuids.display_name(uuid)}; known: {known}")
            out.append(uuid)
        return tuple(dict.fromkeys(out))

    @model_validator(mode="after")
    def _not_empty(self) -> MatchRule:
        if not (self.names or self.service_uuids or self.manufacturer_ids):
            raise ValueError("declare at least one of names, service_uuids, manufacturer_ids")
        return self


class CharacteristicSpec(_Strict):
    """One characteristic the hub subscribes to; its decoder is chosen by UUID in ``gateway.gatt``."""

    uuid: str
    subscribe: Subscribe
    required: bool = Field(default=True, description="false: subscribe only if the device has it")

    @field_validator("uuid")
    @classmethod
    def _decodable(cls, value: str) -> str:
        uuid = _uuid(value, "characteristic UUID")
        if uuid not in supported_characteristics():
            raise ValueError(
                f"no decoder for characteristic {uuids.display_name(uuid)}; "
                "a new characteristic needs a decoder in gateway.gatt first"
            )
        return uuid

    @property
    def short_uuid(self) -> str:
        """The spelling used on the wire (``RawCharacteristic.uuid``): "2a35", or 128-bit."""
        return self.uuid[4:8] if _is_sig(self.uuid) else self.uuid


class DeviceModel(_Strict):
    """One supported device model, as declared in its YAML file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="sent as DeviceIdentity.model")
    manufacturer: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64, description="human model name")
    match: MatchRule
    profile: Profile
    characteristics: tuple[CharacteristicSpec, ...] = Field(min_length=1)
    quirks: tuple[str, ...] = ()
    bonding: Bonding
    clock: ClockSetting
    stored_readings: StoredReadings
    mode: Mode
    kinds: tuple[ReadingKind, ...] = Field(min_length=1)
    frame_rate_hz: float | None = Field(default=None, gt=0, le=1000)
    notes: str | None = None
    source: str | None = Field(default=None, description="file it came from; set by the loader")

    @field_validator("quirks")
    @classmethod
    def _known_quirks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            validate_quirk_names(value)
        except UnknownQuirkError as e:
            raise ValueError(str(e).strip("\"'")) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeviceModel:
        listed = [c.uuid for c in self.characteristics]
        duplicates = sorted({uuids.display_name(u) for u in listed if listed.count(u) > 1})
        if duplicates:
            raise ValueError(f"characteristics: listed more than once: {duplicates}")
        essential = PROFILE_CHARACTERISTIC[self.profile]
        if essential not in listed:
            raise ValueError(
                f"characteristics: profile {self.profile.value} needs {uuids.display_name(essential)} "
                f"({uuids.CHARACTERISTIC_NAMES[essential]})"
            )
        if not next(c for c in self.characteristics if c.uuid == essential).required:
            raise ValueError(
                f"characteristics: {uuids.display_name(essential)} is essential, it cannot be optional"
            )
        if self.mode is not PROFILE_MODE[self.profile]:
            raise ValueError(
                f"mode: profile {self.profile.value} is {PROFILE_MODE[self.profile].value}, not {self.mode.value}"
            )
        wrong = sorted(set(self.kinds) - PROFILE_KINDS[self.profile])
        if wrong:
            allowed = sorted(k.value for k in PROFILE_KINDS[self.profile])
            raise ValueError(
                f"kinds: profile {self.profile.value} cannot produce {[k.value for k in wrong]}; "
                f"it produces {allowed}"
            )
        if self.frame_rate_hz is not None and self.mode is not Mode.CONTINUOUS:
            raise ValueError("frame_rate_hz: only meaningful for continuous devices")
        if self.stored_readings is StoredReadings.RACP and uuids.RECORD_ACCESS_CONTROL_POINT not in listed:
            raise ValueError("characteristics: stored_readings racp needs 2a52 (indicate) listed")
        return self

    def characteristic(self, uuid: str) -> CharacteristicSpec | None:
        """The entry for ``uuid`` in any spelling, ``None`` when this model does not list it."""
        try:
            normalised = uuids.normalize_uuid(uuid)
        except DecodeError:
            return None
        return next((c for c in self.characteristics if c.uuid == normalised), None)

    def identity(
        self, address: str, *, serial: str | None = None, firmware: str | None = None
    ) -> DeviceIdentity:
        """The wire identity of one physical device of this model."""
        return DeviceIdentity(
            address=address, model=self.id, manufacturer=self.manufacturer, serial=serial, firmware=firmware
        )
