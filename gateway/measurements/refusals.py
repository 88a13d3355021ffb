"""A packet's "no reading" and its reason, in one place because the spot mapping and the assembler
both give it and the BLE session logs it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.gatt import uuids

__all__ = ["Refusal", "RefusalReason"]


class RefusalReason(StrEnum):
    MISSING_REQUIRED = "missing_required"  # a measure the kind needs was a special value
    DEVICE_REJECTED = "device_rejected"  # the device flagged it invalid/unavailable/demo/test
    NOT_A_READING = "not_a_reading"  # intermediate pressure, live frame, feature, control point, ...
    MALFORMED = "malformed"  # DecodeError (only from ReadingAssembler)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a packet produced no reading. The hub logs ``detail`` and keeps ``raw``; it is a result, not
    an exception, because for intermediate and live data it is the normal case, several times a second."""

    reason: RefusalReason
    detail: str
    characteristic_uuid: str
    raw: bytes

    def __str__(self) -> str:
        return f"{uuids.display_name(self.characteristic_uuid)} {self.raw.hex(' ')}: {self.reason}: {self.detail}"
