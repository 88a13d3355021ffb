"""An MQTT v5 CONNECT written by hand, to learn one thing: does the broker accept this hub's
credentials (its CONNACK reason code)?

Why not paho: a CONNECT with the hub's client id resumes the hub's persistent session, and
the broker then delivers what it holds for the hub (receipts, configuration). paho would
acknowledge those, and they would be gone before the real hub saw them. Here the CONNECT
asks to keep the session (clean start off, the hub's own expiry), the CONNACK is read, and
the socket is closed without reading or acknowledging anything else, so the broker keeps
every message for the hub's next connection. A running hub is disconnected once (the broker
lets only one connection hold a client id) and reconnects by itself.
"""

from __future__ import annotations

import ssl
from typing import Final

CONNACK: Final = 0x20
PROPERTY_SESSION_EXPIRY: Final = 0x11
#: CONNACK reason codes (MQTT 5.0, 3.2.2.2) that mean "who you are" rather than "not now".
CREDENTIAL_REFUSALS: Final = {
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x8A: "banned",
    0x8C: "bad authentication method",
    # MQTT 3.1.1 return codes, should an older broker answer
    0x04: "bad user name or password",
    0x05: "not authorized",
}
OTHER_REFUSALS: Final = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x88: "server unavailable",
    0x89: "server busy",
    0x97: "quota exceeded",
    0x9F: "connection rate exceeded",
}


class ConnackError(Exception):
    """The broker closed the connection or answered something other than a CONNACK."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(
    client_id: str, username: str, password: str, *, keepalive: int, session_expiry: int
) -> bytes:
    """CONNECT with user name and password, clean start off, the given session expiry."""
    properties = bytes((PROPERTY_SESSION_EXPIRY,)) + session_expiry.to_bytes(4, "big")
    flags = 0x80 | 0x40  # user name, password; clean start off, no will
    header = _text("MQTT") + bytes((5, flags)) + keepalive.to_bytes(2, "big")
    header += _varint(len(properties)) + properties
    payload = _text(client_id) + _text(username) + _text(password)
    body = header + payload
    return bytes((0x10,)) + _varint(len(body)) + body


def _read_exactly(sock: ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnackError("the broker closed the connection before answering the CONNECT")
        data += chunk
    return data


def read_connack(sock: ssl.SSLSocket) -> int:
    """The CONNACK's reason code (0 = accepted)."""
    first = _read_exactly(sock, 1)[0]
    if first >> 4 != CONNACK >> 4:
        raise ConnackError(f"the broker answered packet type {first >> 4}, not a CONNACK")
    length, shift = 0, 0
    for _ in range(4):
        byte = _read_exactly(sock, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = _read_exactly(sock, length)
    if len(body) < 2:
        raise ConnackError("the broker's CONNACK is too short")
    return body[1]


def reason_name(code: int) -> str:
    return CREDENTIAL_REFUSALS.get(code) or OTHER_REFUSALS.get(code) or f"reason code {code:#04x}"
