"""The building blocks every message of the contract is made of: strict models, bounded one-line
text, aware timestamps and a device's identity.

Kept apart from ``messages.py`` so a message defined in a module of its own (``undecoded.py``,
``commands.py``) uses the same blocks as the reading batch it travels in, without an import cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from common.wire.addresses import DEVICE_ADDRESS_PATTERN


def _printable(value: str) -> str:
    """Refuse control characters: a NUL byte is valid JSON but PostgreSQL refuses it in text,
    and one such reading once stopped all ingestion. Refused here, with where it is, the
    message is kept as a dead letter instead."""
    for i, ch in enumerate(value):
        if ch < " " or ch == "\x7f":
            raise ValueError(f"must not contain control characters (U+{ord(ch):04X} at position {i})")
    return value


_NO_CONTROL_CHARACTERS = {"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
#: Free text from a device or a hub (names, serials, error messages): one line, bounded.
ShortText = Annotated[
    str, Field(max_length=64, json_schema_extra=_NO_CONTROL_CHARACTERS), AfterValidator(_printable)
]
LineText = Annotated[
    str, Field(max_length=300, json_schema_extra=_NO_CONTROL_CHARACTERS), AfterValidator(_printable)
]


def printable_line(text: str, limit: int = 300) -> str:
    """``text`` made fit for a ``LineText`` field: control characters (newlines in an
    exception message) become spaces, and it is cut to ``limit`` characters."""
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)[:limit]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Message(_Strict):
    """A whole MQTT message: its ``schema`` field names the version, and it goes on the wire
    as compact JSON without absent fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


AwareDatetime = Annotated[datetime, Field(description="RFC 3339 with offset")]


class DeviceIdentity(_Strict):
    address: str = Field(
        pattern=DEVICE_ADDRESS_PATTERN,
        description="Bluetooth address (upper-case), or sim:<name> for simulated devices",
    )
    model: ShortText = Field(min_length=1, description="catalogue model id")
    manufacturer: ShortText | None = None
    serial: ShortText | None = None
    firmware: ShortText | None = None
    user_index: int | None = Field(
        default=None, ge=0, le=254, description="the device's user slot for shared cuffs/scales"
    )
