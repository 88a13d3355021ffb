"""The certificates the hub's TLS depends on: the CA file in hub.toml (which the hub trusts to
sign the broker's certificate) and the broker's own certificate as the hub received it.

An expired certificate stops every connection at once, so expiry is reported a month ahead
(``WARN_WITHIN``): time enough to issue a new one before the hub falls silent.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Final

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, warning

DAY: Final = 86400
WARN_WITHIN: Final = 30 * DAY
CERTIFICATES = HubCheckName.CERTIFICATES
_NEW_CA_FIX: Final = (
    "Copy the broker's current CA certificate to the hub (from a new enrolment bundle, or "
    "deploy/certs on the server) and point broker.ca_file in hub.toml at it."
)
#: The peer certificate as ``ssl.SSLSocket.getpeercert()`` decodes it.
PeerCertificate = dict[str, object]


def _expires(cert: PeerCertificate) -> float:
    return ssl.cert_time_to_seconds(str(cert["notAfter"]))


def _subject(cert: PeerCertificate) -> str:
    subject = cert.get("subject", ())
    for rdn in subject if isinstance(subject, tuple) else ():
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return "?"


def _days(seconds: float) -> str:
    return f"{int(seconds // DAY)} day(s)"


def certificates_check(
    ca_file: Path, broker_cert: PeerCertificate | None, now: float | None = None
) -> HubCheck:
    """``broker_cert`` is None when the broker could not be reached (its expiry is then unknown)."""
    now = time.time() if now is None else now
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        return failed(CERTIFICATES, f"CA certificate {ca_file} does not exist", _NEW_CA_FIX)
    except (OSError, ssl.SSLError) as e:
        return failed(CERTIFICATES, f"CA certificate {ca_file} cannot be read ({e})", _NEW_CA_FIX)
    authorities: list[PeerCertificate] = context.get_ca_certs()  # type: ignore[assignment]
    if not authorities:
        return failed(CERTIFICATES, f"{ca_file} holds no CA certificate", _NEW_CA_FIX)
    found: list[str] = []
    soonest: tuple[float, str] | None = None
    for cert in authorities:
        left = _expires(cert) - now
        name = f"CA '{_subject(cert)}'"
        if left <= 0:
            return failed(CERTIFICATES, f"{name} in {ca_file} has expired", _NEW_CA_FIX)
        found.append(f"{name} valid for {_days(left)}")
        soonest = min(soonest or (left, name), (left, name))
    if broker_cert is not None:
        left = _expires(broker_cert) - now
        name = f"the broker's certificate '{_subject(broker_cert)}'"
        found.append(f"{name} valid for {_days(left)}")
        soonest = min(soonest or (left, name), (left, name))
    assert soonest is not None
    if soonest[0] < WARN_WITHIN:
        return warning(
            CERTIFICATES,
            f"{soonest[1]} expires in {_days(soonest[0])}",
            "Ask the server's administrator to renew it before it expires; the hub cannot connect after.",
        )
    return ok(CERTIFICATES, "; ".join(found))
