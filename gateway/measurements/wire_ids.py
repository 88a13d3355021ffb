"""The identifiers a reading carries on the wire: its ``reading_id`` and its characteristic's spelling.

Kept apart because the server's idempotency rests on them: the same stored reading sent again must get
the same id, whichever path (spot mapping or continuous window) built it.
"""

from __future__ import annotations

import uuid
from typing import Final

from gateway.gatt import uuids

__all__ = ["READING_ID_NAMESPACE", "reading_id_for", "wire_uuid"]

#: Namespace of deterministic reading ids. Never change it: ids already delivered would stop matching
#: their replays and the server would store duplicates.
READING_ID_NAMESPACE: Final = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e7f-0a1b2c3d4e5f")


def wire_uuid(characteristic_uuid: str) -> str:
    """The spelling ``RawCharacteristic`` takes: "2a35" for SIG UUIDs, the full 128-bit otherwise."""
    normalised = uuids.normalize_uuid(characteristic_uuid)
    if normalised.startswith("0000") and normalised.endswith(uuids.BLUETOOTH_BASE_UUID_SUFFIX):
        return normalised[4:8]
    return normalised


def reading_id_for(
    address: str, characteristic_uuid: str, raw: bytes, *, device_timestamped: bool
) -> uuid.UUID:
    """Deterministic id for a device-timestamped reading, a fresh one otherwise.

    Why: devices re-send their memory (an A&D cuff that lost the connection before the hub confirmed,
    RACP "report all" after a reconnect). A stored reading's bytes include its own timestamp, so the same
    reading replayed gives the same bytes and therefore the same uuid5, and the server's idempotency on
    ``reading_id`` drops the copy. Two *different* readings cannot share bytes: the timestamp has one-second
    resolution and a device takes no two readings in one second (with an unset clock it still sends the
    time of day; identical values at the identical second on different days is the accepted residual risk).
    Without a device timestamp identical bytes are common (two weighings of 70.00 kg), so deterministic ids
    would merge genuinely different readings: those get uuid4 instead.
    """
    if not device_timestamped:
        return uuid.uuid4()
    name = f"{address}|{uuids.normalize_uuid(characteristic_uuid)}|{bytes(raw).hex()}"
    return uuid.uuid5(READING_ID_NAMESPACE, name)
