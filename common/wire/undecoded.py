"""A packet from a paired device that the hub could not decode, carried to the server instead of
being dropped.

Why it travels at all: the patient pressed the button, the device sent its measurement and may
already have forgotten it (an A&D cuff deletes what it indicated). A decoder that refuses the bytes
(a trailing byte, a reserved flag) must not make that reading vanish on the hub with a log line no
one reads. The hub keeps the bytes exactly as they came, with the decoder's reason, in its outbox
like a reading; the server keeps each as a dead letter (``undecodable_packet``) for a technician,
and the bytes are there for whoever fixes the decoder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from pydantic import Field, field_validator

from common.wire.schemas import AwareDatetime, DeviceIdentity, LineText, ShortText, _Strict

#: An attribute value is at most 512 bytes (Bluetooth Core, ATT): 1024 hexadecimal digits.
MAX_PACKET_BYTES: Final = 512


class UndecodedPacket(_Strict):
    """One notification or indication the hub received from a paired device and could not decode."""

    packet_id: UUID = Field(
        description="unique per packet received; the idempotency key, named by the receipt like a reading_id"
    )
    device: DeviceIdentity
    characteristic: ShortText = Field(
        min_length=1,
        description="the characteristic's UUID as a reading's raw spells it ('2a35', or the full "
        "128-bit form); as received if the hub could not read it as a UUID",
    )
    data_hex: str = Field(
        pattern=r"^(?:[0-9a-f]{2})*$",
        max_length=2 * MAX_PACKET_BYTES,
        description="the bytes exactly as received, lower-case hexadecimal",
    )
    error: LineText = Field(min_length=1, description="why the hub's decoder refused it, in words")
    received_at: AwareDatetime = Field(description="when the hub received it, by the hub clock")

    @field_validator("received_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.utcoffset() is None:
            raise ValueError("timestamp must carry a UTC offset")
        return v

    def payload(self) -> bytes:
        return bytes.fromhex(self.data_hex)
