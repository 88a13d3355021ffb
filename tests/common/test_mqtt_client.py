"""Every CareWatch client's socket sends at once (TCP_NODELAY): with Nagle's algorithm a
hub's batch waited ~40 ms for the broker's delayed ACK before its PUBACK could come."""

from __future__ import annotations

import socket
import threading

from common.mqtt import BrokerEndpoint, tls_client


def test_a_client_connected_to_the_real_broker_has_nagle_off(server_endpoint: BrokerEndpoint) -> None:
    client = tls_client(server_endpoint, "test-nodelay")
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(server_endpoint.host, server_endpoint.port)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK from the test broker"
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        client.disconnect()
        client.loop_stop()
