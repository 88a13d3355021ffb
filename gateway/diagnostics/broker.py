"""Can the hub reach its broker, and will the broker take its credentials? One real
connection, step by step, so a failure names its step: the TCP connection (network, address,
firewall), the TLS handshake (the CA file, the broker's certificate, its host name), then an
MQTT CONNECT with the hub's user name and password (see ``mqtt_connect`` for why by hand).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Final

from common.mqtt import SESSION_EXPIRY_S, BrokerEndpoint
from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics import mqtt_connect
from gateway.diagnostics.certificates import PeerCertificate
from gateway.diagnostics.results import failed, ok, skipped

TIMEOUT_S: Final = 5.0
BROKER, CREDENTIALS = HubCheckName.BROKER, HubCheckName.CREDENTIALS


@dataclass(frozen=True)
class BrokerProbe:
    broker: HubCheck
    credentials: HubCheck
    certificate: PeerCertificate | None  # the broker's, when the handshake got that far


def probe_broker(endpoint: BrokerEndpoint, *, connect: bool = True) -> BrokerProbe:
    """``connect=False`` stops after the TLS handshake (no password to offer)."""
    where = f"{endpoint.host}:{endpoint.port}"
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT_S)
    except OSError as e:
        return BrokerProbe(
            failed(
                BROKER,
                f"cannot reach the broker at {where} ({e.strerror or e})",
                "Check the hub's network connection and broker.host/port in hub.toml; if they are right, "
                "the broker is down or a firewall blocks the port.",
            ),
            skipped(CREDENTIALS, "the broker is not reachable"),
            None,
        )
    try:
        context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    except (OSError, ssl.SSLError) as e:
        raw.close()
        return BrokerProbe(
            failed(
                BROKER,
                f"reached {where}, but the CA file cannot be used ({e})",
                "See the certificates check.",
            ),
            skipped(CREDENTIALS, "no TLS connection to the broker"),
            None,
        )
    try:
        tls = context.wrap_socket(raw, server_hostname=endpoint.host)
    except ssl.SSLCertVerificationError as e:
        raw.close()
        return BrokerProbe(
            failed(
                BROKER,
                f"reached {where}, but its certificate is not trusted: {e.verify_message}",
                "The CA file in hub.toml does not match the broker's certificate, or the certificate has "
                "expired or names another host: copy the current CA to the hub or renew the certificate.",
            ),
            skipped(CREDENTIALS, "no TLS connection to the broker"),
            None,
        )
    except (OSError, ssl.SSLError) as e:
        raw.close()
        return BrokerProbe(
            failed(
                BROKER,
                f"reached {where}, but the TLS handshake failed ({e})",
                "Check that broker.port in hub.toml is the broker's TLS port (usually 8883).",
            ),
            skipped(CREDENTIALS, "no TLS connection to the broker"),
            None,
        )
    with tls:
        cert: PeerCertificate | None = tls.getpeercert()  # type: ignore[assignment]
        reached = ok(BROKER, f"broker {where} reachable over {tls.version()}, certificate trusted")
        credentials = _credentials(tls, endpoint) if connect else skipped(CREDENTIALS, "no password")
        return BrokerProbe(reached, credentials, cert)


def _credentials(tls: ssl.SSLSocket, endpoint: BrokerEndpoint) -> HubCheck:
    packet = mqtt_connect.connect_packet(
        endpoint.username,
        endpoint.username,
        endpoint.password,
        keepalive=endpoint.keepalive,
        session_expiry=SESSION_EXPIRY_S,
    )
    try:
        tls.sendall(packet)
        code = mqtt_connect.read_connack(tls)
    except (OSError, mqtt_connect.ConnackError) as e:
        return failed(
            CREDENTIALS,
            f"the broker did not answer the hub's CONNECT ({e})",
            "Look at the broker's log for this hub id; the broker may be overloaded or refusing MQTT v5.",
        )
    if code == 0:
        return ok(CREDENTIALS, f"the broker accepts hub {endpoint.username}'s credentials")
    reason = mqtt_connect.reason_name(code)
    if code in mqtt_connect.CREDENTIAL_REFUSALS:
        return failed(
            CREDENTIALS,
            f"the broker refused hub {endpoint.username}'s credentials ({reason})",
            "The hub's password does not match the broker's (or the hub was revoked): re-enrol the hub "
            "from a new bundle, or ask for its password to be rotated and update broker.password_file.",
        )
    return failed(
        CREDENTIALS,
        f"the broker refused the connection: {reason}",
        "The broker is not accepting connections right now; try again in a few minutes.",
    )
