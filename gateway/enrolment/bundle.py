"""The enrolment bundle: everything a new hub needs to reach its broker, in one JSON file the
server writes and the hub reads. Pure: no I/O.

One file rather than a password, a CA file and a host to type: a technician in a patient's
home copies one thing. The checksum (SHA-256 over the canonical JSON of every other field)
catches a truncated or hand-edited copy before the hub writes a half-right configuration;
it is not a signature: the bundle travels over HTTPS or by hand, and it holds the password,
so whoever could forge it could read it. The expiry bounds how long a copied bundle is worth
stealing: the password in it is the hub's, so an expired bundle means a new one is issued
(``carewatch server hub bundle``), which re-keys the hub.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.wire.topics import HUB_ID_PATTERN

FORMAT: Final = "carewatch-hub-bundle/1"


class BundleError(ValueError):
    """The bundle cannot be used; the message says why in a technician's words."""


class BundleExpired(BundleError):
    """The bundle is past its expiry: ask for a new one."""


class EnrolmentBundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["carewatch-hub-bundle/1"] = FORMAT
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    broker_host: str = Field(min_length=1, max_length=253)
    broker_port: int = Field(ge=1, le=65535)
    ca_pem: str = Field(min_length=1, description="the CA certificate that signed the broker's (PEM)")
    password: str = Field(min_length=16, description="the hub's MQTT password")
    issued_at: datetime
    expires_at: datetime

    def checksum(self) -> str:
        return _digest(self.model_dump(mode="json"))

    def to_json(self) -> str:
        """The file's text: every field and the checksum."""
        return json.dumps({**self.model_dump(mode="json"), "sha256": self.checksum()}, indent=2) + "\n"


def _digest(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_bundle(text: str, now: datetime) -> EnrolmentBundle:
    """Parse, verify and check the expiry of a bundle's text."""
    try:
        data = json.loads(text)
    except ValueError:
        raise BundleError("this is not an enrolment bundle (not JSON); ask for a new one") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"this is not a CareWatch hub enrolment bundle (format {FORMAT!r} expected)")
    claimed = data.pop("sha256", None)
    try:
        bundle = EnrolmentBundle.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        raise BundleError(f"the bundle is incomplete or damaged ({problems}); ask for a new one") from None
    if claimed != _digest(data):
        raise BundleError("the bundle's checksum does not match: it was damaged or edited; ask for a new one")
    if now >= bundle.expires_at:
        raise BundleExpired(
            f"this bundle for {bundle.hub_id} expired at {bundle.expires_at:%Y-%m-%d %H:%M} UTC; "
            f"ask for a new one (carewatch server hub bundle {bundle.hub_id})"
        )
    return bundle
