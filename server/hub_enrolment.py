"""Enrolment bundles and claim codes: how a technician gets a hub its identity without copying
a password by hand.

A bundle (``gateway.enrolment.bundle``) holds the hub's broker password, which the server
never keeps (the broker holds only its hash). So a bundle is made by re-keying the hub
(``hub_lifecycle.rotate``): issuing one for a hub in service disconnects it until the new
bundle is on it. A claim code does not hold the bundle either: it is a short, single-use,
expiring secret, stored as its SHA-256 only, and the bundle is made when the code is
claimed. A leaked database therefore yields no working hub password and no usable code.

Codes are 8 characters from an alphabet with no look-alikes (no 0/O, 1/I/L), 40 bits: read
aloud over a phone or typed on a hub's keyboard; they live a day by default and are refused
after one use or once expired, and each claim attempt is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from common.mqtt import BrokerEndpoint
from gateway.enrolment.bundle import EnrolmentBundle
from server import hub_lifecycle
from server.settings import MqttSettings
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubClaimCode, now

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEFAULT_BUNDLE_LIFE = timedelta(days=7)
DEFAULT_CODE_LIFE = timedelta(hours=24)


class ClaimRefused(ValueError):
    """The code is unknown, used or expired; the message says which, in plain words."""


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``: how long a bundle or code stays valid."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a duration like 7d, 12h or 30m")
    return timedelta(**{units[unit]: int(number)})


def normalise_code(code: str) -> str:
    """What a person typed, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def enrol_command(code: str, server_url: str) -> str:
    """What the technician types on the hub; also what the QR code holds, so a phone that
    scans it can paste the whole command into the hub's terminal."""
    return f"carewatch hub enrol {display_code(code)} --server {server_url}"


def qr_svg(text: str) -> str:
    """The QR code as an inline SVG for the pages (segno: pure Python, no image library)."""
    import segno

    return str(segno.make(text, error="m").svg_inline(scale=4, title="QR code of the enrol command"))


def write_qr(text: str, path: Path) -> None:
    import segno

    segno.make(text, error="m").save(str(path), scale=6)


def issue_bundle(
    db: Database, mqtt: MqttSettings, hub_id: str, *, actor: str, life: timedelta = DEFAULT_BUNDLE_LIFE
) -> EnrolmentBundle:
    """``make_bundle`` with the broker the settings name, as hubs reach it."""
    return make_bundle(
        db,
        mqtt.endpoint(),
        hub_id,
        actor=actor,
        broker_host=mqtt.hub_host or mqtt.host,
        broker_port=mqtt.hub_port or mqtt.port,
        ca_file=mqtt.ca_file,
        life=life,
    )


def claim_with(db: Database, mqtt: MqttSettings, code: str) -> EnrolmentBundle:
    return claim(
        db,
        mqtt.endpoint,
        code,
        broker_host=mqtt.hub_host or mqtt.host,
        broker_port=mqtt.hub_port or mqtt.port,
        ca_file=mqtt.ca_file,
    )


def make_bundle(
    db: Database,
    endpoint: BrokerEndpoint,
    hub_id: str,
    *,
    actor: str,
    broker_host: str,
    broker_port: int,
    ca_file: Path,
    life: timedelta = DEFAULT_BUNDLE_LIFE,
) -> EnrolmentBundle:
    """Re-key the hub and package its new identity (audited as a rotation, then the bundle)."""
    try:
        ca_pem = ca_file.read_text()
    except OSError as e:
        raise hub_lifecycle.LifecycleError(
            f"cannot read the broker's CA certificate {ca_file}: {e}"
        ) from None
    # The bundle's issue and expiry are recorded in the rotation's own commit, before the
    # broker changes: a record that fails to write leaves the hub's old password working.
    issued = hub_lifecycle.rotate(db, endpoint, hub_id, actor=actor, bundle_life=life)
    at = issued.issued_at or now()
    return EnrolmentBundle(
        hub_id=hub_id,
        broker_host=broker_host,
        broker_port=broker_port,
        ca_pem=ca_pem,
        password=issued.password,
        issued_at=at,
        expires_at=issued.expires_at or at + life,
    )


def issue_claim_code(db: Database, hub_id: str, *, actor: str, life: timedelta = DEFAULT_CODE_LIFE) -> str:
    """A new code for the hub (shown once); earlier unclaimed codes for it stop working."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise hub_lifecycle.LifecycleError(f"no hub {hub_id!r}")
        if hub.replaced_by:
            raise hub_lifecycle.LifecycleError(f"hub {hub_id!r} was replaced by {hub.replaced_by!r}")
        hub_lifecycle.not_revoked(hub)
        at = now()
        for old in s.scalars(
            select(HubClaimCode).where(HubClaimCode.hub_id == hub_id, HubClaimCode.claimed_at.is_(None))
        ):
            old.expires_at = min(old.expires_at, at)
        s.add(
            HubClaimCode(
                code_hash=_hash(code), hub_id=hub_id, created_by=actor, created_at=at, expires_at=at + life
            )
        )
        s.add(
            AuditEvent(
                actor=actor,
                action="hub_claim_code_issued",
                target=hub_id,
                detail=f"expires {(at + life).isoformat()}",
            )
        )
    return code


def claim(
    db: Database,
    endpoint: Callable[[], BrokerEndpoint],
    code: str,
    *,
    broker_host: str,
    broker_port: int,
    ca_file: Path,
    at: datetime | None = None,
) -> EnrolmentBundle:
    """Exchange a code for a fresh bundle, once. The code is spent before the broker is
    asked, so two hubs racing with one code cannot both get a password. ``endpoint`` is
    called only for a good code: an unknown one is refused without touching the broker."""
    at = at or now()
    refusal: str | ValueError = ""
    with db.session() as s:
        row = s.get(HubClaimCode, _hash(code), with_for_update=True)
        hub = s.get(Hub, row.hub_id) if row is not None else None
        if row is None:
            s.add(AuditEvent(actor="enrol", action="hub_claim_refused", target="", detail="unknown code"))
            refusal = "this code is not known; check it, or ask for a new one"
        elif hub is not None and hub.revoked_at is not None:
            # Named, before "expired": revoking expired the code, and the technician should
            # learn why, not ask for a new code that would be refused too.
            s.add(
                AuditEvent(actor="enrol", action="hub_claim_refused", target=row.hub_id, detail="hub revoked")
            )
            refusal = hub_lifecycle.HubRevoked(
                f"hub {row.hub_id} was revoked; its codes no longer work. A technician must reinstate it first"
            )
        elif row.claimed_at is not None:
            s.add(
                AuditEvent(
                    actor="enrol", action="hub_claim_refused", target=row.hub_id, detail="already used"
                )
            )
            refusal = "this code has already been used; ask for a new one"
        elif row.expires_at <= at:
            s.add(AuditEvent(actor="enrol", action="hub_claim_refused", target=row.hub_id, detail="expired"))
            refusal = f"this code expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one"
        else:
            row.claimed_at = at
            hub_id = row.hub_id
            s.add(AuditEvent(actor="enrol", action="hub_claim_code_used", target=hub_id))
    if isinstance(refusal, Exception):
        raise refusal
    if refusal:
        raise ClaimRefused(refusal)
    try:
        return make_bundle(
            db,
            endpoint(),
            hub_id,
            actor="enrol",
            broker_host=broker_host,
            broker_port=broker_port,
            ca_file=ca_file,
        )
    except Exception:
        with db.session() as s:  # the broker did not re-key the hub: the code stays good
            spent = s.get(HubClaimCode, _hash(code))
            if spent is not None:
                spent.claimed_at = None
        raise
