"""How every CareWatch process reaches the broker: MQTT v5 over TLS, as one identity.

One module for the hub, the ingest worker, the control plane and the broker's
administration, so they cannot differ on the protocol version (v5: a refused publish is
reported, not silently dropped), on TLS verification, or on how long a session is kept.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT v5 PUBACK reason code: accepted, but no one subscribed


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int
    ca_file: Path
    username: str
    password: str
    keepalive: int = 30


def tls_client(endpoint: BrokerEndpoint, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """A paho client as every CareWatch client reaches the broker: MQTT v5 (so a refused
    publish is reported, not silently dropped), the endpoint's user and password, TLS
    verified against its CA."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    client.username_pw_set(endpoint.username, endpoint.password)
    client.tls_set(ca_certs=str(endpoint.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.on_socket_open = send_at_once
    return client


def send_at_once(client: mqtt.Client, userdata: object, sock: object) -> None:
    """paho's ``on_socket_open`` (before the CONNECT goes out): TCP_NODELAY. With Nagle's
    algorithm on, the tail of a message waited for the peer's delayed ACK of the segment
    before it (about 40 ms on Linux); a hub waits for each batch's PUBACK before the next,
    so that was 40 ms a batch (458-624 readings/s in batches of 50 on loopback,
    ``bench/hub_footprint.py``), and the ingest's receipts waited the same way."""
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:  # not TCP (a test's socket pair): nothing to tune
            log.debug("TCP_NODELAY not set: %s", e)
