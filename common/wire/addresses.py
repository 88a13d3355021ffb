"""Device addresses as the contract spells them: a Bluetooth address upper-case with colons,
as BlueZ writes it, or ``sim:<name>`` for a simulated device. The hub's allowlist, the
server's pairing and the messages all normalise and check addresses here."""

from __future__ import annotations

import re
from typing import Final

#: A Bluetooth device address as BlueZ and this contract spell it (upper-case, colons).
BLUETOOTH_ADDRESS_PATTERN: Final = r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$"
DEVICE_ADDRESS_PATTERN: Final = BLUETOOTH_ADDRESS_PATTERN + r"|^sim:[a-z0-9-]+$"
_BLUETOOTH_ADDRESS: Final = re.compile(BLUETOOTH_ADDRESS_PATTERN)


class InvalidAddress(ValueError):
    """Not a Bluetooth address, even allowing for case, dashes and spaces."""


def normalize_address(address: str) -> str:
    """Upper-case colon form, as BlueZ and the wire contract spell addresses."""
    text = address.strip().upper().replace("-", ":")
    if not _BLUETOOTH_ADDRESS.fullmatch(text):
        raise InvalidAddress(f"{address!r} is not a Bluetooth address (expected like 00:09:1F:12:34:56)")
    return text
