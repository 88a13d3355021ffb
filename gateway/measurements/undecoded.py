"""A packet the decoders refused, made into the ``UndecodedPacket`` the hub keeps and sends.

Pure, beside the assembler whose ``Refusal`` it reads. Only a *malformed* packet becomes one: the
bytes may hold the patient's reading and no one can tell until someone fixes the decoder, so the
bytes travel exactly as received. Intermediate cuff pressure and live frames are not readings, and
a reading the device itself marked invalid or demonstration was decoded and is refused on purpose:
neither is kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from common.wire.messages import DeviceIdentity, printable_line
from common.wire.undecoded import MAX_PACKET_BYTES, UndecodedPacket
from gateway.gatt.errors import DecodeError
from gateway.measurements.refusals import Refusal, RefusalReason
from gateway.measurements.wire_ids import wire_uuid

__all__ = ["is_undecodable", "undecoded_packet"]


def is_undecodable(refusal: Refusal) -> bool:
    return refusal.reason is RefusalReason.MALFORMED


def undecoded_packet(refusal: Refusal, device: DeviceIdentity, received_at: datetime) -> UndecodedPacket:
    """The refused packet as it came, with the decoder's reason and the hub's receive time.

    A fresh ``packet_id`` each time: nothing in bytes the decoder refused can be trusted to tell two
    readings apart (two weighings of the same weight are the same bytes), so two receptions are two
    packets, never merged."""
    try:
        characteristic = wire_uuid(refusal.characteristic_uuid)
    except DecodeError:
        characteristic = printable_line(refusal.characteristic_uuid, 64) or "unknown"
    data, error = refusal.raw, refusal.detail
    if len(data) > MAX_PACKET_BYTES:  # more than an attribute value can hold: keep what fits, say so
        error = f"{error} (the first {MAX_PACKET_BYTES} of {len(data)} bytes kept)"
        data = data[:MAX_PACKET_BYTES]
    return UndecodedPacket(
        packet_id=uuid.uuid4(),
        device=device,
        characteristic=characteristic,
        data_hex=data.hex(),
        error=printable_line(error) or "the decoder refused it without a reason",
        received_at=received_at,
    )
