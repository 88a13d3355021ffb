"""The declarative device catalogue: which BLE devices the hub supports and how to talk to them.

Every supported model is one YAML file in ``firmware-config/devices/`` (fields documented in that
directory's README). Supporting another device that speaks a standard Bluetooth SIG profile is a YAML
file, never code: the decoder is chosen by characteristic UUID (``gateway.gatt.decode``), deviations are
named quirks, and everything session-related (bonding, clock setting, stored-reading behaviour) is data.

The catalogue is validated completely when it is loaded, because a typo discovered per packet on a hub
in someone's home shows up as silently missing readings; a typo discovered at start-up is an error
message naming the file and the field.

Pure apart from ``load_catalogue``/``load_model`` reading files: no BLE, no asyncio, no network, so the
hub, the simulator, the tests and support tooling share it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.wire.messages import DeviceIdentity
from common.wire.vocabulary import ReadingKind
from gateway.gatt import supported_characteristics, uuids
from gateway.gatt.errors import DecodeError, UnknownQuirkError
from gateway.gatt.quirks import validate_quirk_names

__all__ = [
    "CATALOGUE_ENV",
    "PROFILE_CHARACTERISTIC",
    "PROFILE_KINDS",
    "PROFILE_MODE",
    "Bonding",
    "Catalogue",
    "CatalogueError",
    "CharacteristicSpec",
    "ClockSetting",
    "DeviceModel",
    "MatchRule",
    "Mode",
    "Profile",
    "StoredReadings",
    "Subscribe",
    "default_catalogue_dir",
    "load_catalogue",
    "load_model",
    "parse_model",
]

#: Environment variable naming the catalogue directory; wins over the repository default so a packaged
#: hub (no repository checkout) and tests can point elsewhere.
CATALOGUE_ENV: Final = "CAREWATCH_DEVICE_CATALOGUE"
_REPO_RELATIVE: Final = Path("firmware-config") / "devices"
_NO_MANUFACTURER_DATA: Final[Mapping[int, bytes]] = MappingProxyType({})


class CatalogueError(ValueError):
    """The catalogue (or one file of it) is invalid. The message always names the file and the field."""


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

#: Reading kinds a profile can produce (``gateway.measurements`` maps exactly these).
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

# Match specificity weights: a name pattern identifies a model, a company id a manufacturer, an
# advertised service only a capability. Name + service (5) therefore beats service alone (1).
_NAME_WEIGHT: Final = 4
_MANUFACTURER_WEIGHT: Final = 2
_SERVICE_WEIGHT: Final = 1


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
    """How an advertisement is recognised. Every declared criterion must hold (see ``score``)."""

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

    def score(
        self, name: str | None, service_uuids: frozenset[str], manufacturer_ids: frozenset[int]
    ) -> int | None:
        """Specificity of a match, ``None`` for no match.

        Names and company ids identify a device, so when declared they must match. Service UUIDs must
        match too, except when the advertisement lists no services at all and an identity criterion
        already matched: many devices leave services out of their advertisement, and "not advertised"
        is not "contradicted".
        """
        score = 0
        if self.names:
            if name is None or not any(re.search(p, name) for p in self.names):
                return None
            score += _NAME_WEIGHT
        if self.manufacturer_ids:
            if not manufacturer_ids & set(self.manufacturer_ids):
                return None
            score += _MANUFACTURER_WEIGHT
        if self.service_uuids:
            if service_uuids & set(self.service_uuids):
                score += _SERVICE_WEIGHT
            elif service_uuids or score == 0:
                return None
        return score


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


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError, source: str) -> CatalogueError:
    items = error.errors()
    lines = []
    for item in items:
        loc = tuple(item["loc"])
        # pydantic also reports "tuple too short" for a list whose only item failed: noise.
        if item["type"] == "too_short" and any(
            tuple(o["loc"])[: len(loc)] == loc != tuple(o["loc"]) for o in items
        ):
            continue
        message = item["msg"].removeprefix("Value error, ")
        # Cross-field checks run on the whole model; they start their message with the field to blame.
        field, sep, rest = message.partition(": ")
        if not loc and sep and field in DeviceModel.model_fields:
            loc, message = (field,), rest
        lines.append(f"{source}: field {_location(loc)}: {message}")
    return CatalogueError("\n".join(lines))


def parse_model(data: object, source: str = "<memory>") -> DeviceModel:
    """Validate one already-parsed YAML document; ``source`` names it in errors."""
    if not isinstance(data, Mapping):
        raise CatalogueError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    if "source" in data:
        raise CatalogueError(f"{source}: field source: set by the loader, do not write it")
    try:
        return DeviceModel.model_validate({**data, "source": source})
    except ValidationError as e:
        raise _explain(e, source) from None


def load_model(path: Path | str) -> DeviceModel:
    """Read and validate one YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CatalogueError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise CatalogueError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_model(data, str(path))


class Catalogue:
    """All supported models, answering "which model is this advertisement?"."""

    __slots__ = ("_by_id", "models")

    def __init__(self, models: Iterable[DeviceModel]) -> None:
        self.models: tuple[DeviceModel, ...] = tuple(models)
        self._by_id: dict[str, DeviceModel] = {}
        seen_rules: dict[MatchRule, DeviceModel] = {}
        for model in self.models:
            other = self._by_id.get(model.id)
            if other is not None:
                raise CatalogueError(
                    f"{model.source}: field id: {model.id!r} is already used by {other.source}"
                )
            self._by_id[model.id] = model
            # Identical match rules would make the choice between two models arbitrary.
            twin = seen_rules.get(model.match)
            if twin is not None:
                raise CatalogueError(
                    f"{model.source}: field match: identical to {twin.source} ({twin.id}); "
                    "the hub could not tell the two apart"
                )
            seen_rules[model.match] = model

    def __iter__(self) -> Iterator[DeviceModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def get(self, model_id: str) -> DeviceModel:
        """The model with this id; ``KeyError`` names the known ids."""
        try:
            return self._by_id[model_id]
        except KeyError:
            raise KeyError(f"no device model {model_id!r}; known: {sorted(self._by_id)}") from None

    def candidates(
        self,
        name: str | None,
        service_uuids: Sequence[str] = (),
        manufacturer_data: Mapping[int, bytes] = _NO_MANUFACTURER_DATA,
    ) -> list[DeviceModel]:
        """Every matching model, most specific first (ties by id, so the order is stable)."""
        services = set()
        for raw in service_uuids:
            try:
                services.add(uuids.normalize_uuid(raw))
            except DecodeError:
                continue  # a garbled advertisement must not stop the scan
        scored = []
        for model in self.models:
            score = model.match.score(name, frozenset(services), frozenset(manufacturer_data))
            if score is not None:
                scored.append((-score, model.id, model))
        return [model for _, _, model in sorted(scored, key=lambda t: (t[0], t[1]))]

    def match(
        self,
        name: str | None,
        service_uuids: Sequence[str] = (),
        manufacturer_data: Mapping[int, bytes] = _NO_MANUFACTURER_DATA,
    ) -> DeviceModel | None:
        """The most specific model for an advertisement (bleak's local name, service UUIDs and
        manufacturer data), or ``None`` when the device is not supported."""
        found = self.candidates(name, service_uuids, manufacturer_data)
        return found[0] if found else None


def default_catalogue_dir() -> Path:
    """``$CAREWATCH_DEVICE_CATALOGUE`` if set, else ``firmware-config/devices`` of the repository this
    module lives in (searched upwards, so a checkout works from anywhere)."""
    override = os.environ.get(CATALOGUE_ENV)
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / _REPO_RELATIVE
        if candidate.is_dir():
            return candidate
    raise CatalogueError(
        f"cannot find {_REPO_RELATIVE} above {Path(__file__).parent}; set {CATALOGUE_ENV} to the catalogue directory"
    )


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Load and validate every ``*.yaml``/``*.yml`` in ``directory`` (default ``default_catalogue_dir()``).

    All files are checked before failing, so one run reports every broken file, not just the first.
    """
    root = Path(directory) if directory is not None else default_catalogue_dir()
    if not root.is_dir():
        raise CatalogueError(f"{root}: device catalogue directory does not exist")
    paths = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise CatalogueError(f"{root}: no device files (*.yaml)")
    models: list[DeviceModel] = []
    problems: list[str] = []
    for path in paths:
        try:
            models.append(load_model(path))
        except CatalogueError as e:
            problems.append(str(e))
    if problems:
        raise CatalogueError("\n".join(problems))
    return Catalogue(models)
