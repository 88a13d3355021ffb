"""The plugin's configuration file for a new broker: the server's own identities and roles.

Mosquitto's dynamic-security plugin reads this JSON file when the broker starts and writes
it back on every change made through its control topic. A new broker therefore needs a
first file holding at least one identity that may administer the rest; everything after
that (hubs, password changes, revocations) happens live over ``$CONTROL``, with no reload.

Passwords are stored as the plugin stores them: PBKDF2-HMAC-SHA512 over a random 12-byte
salt, base64. We keep its customary 101 iterations: every password we issue is a random
192-bit secret, which no amount of stretching would make stronger, and the broker pays the
iterations on every connection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from server.broker.identities import DEFAULT_ACCESS, Identity, Role

ITERATIONS = 101


class DynsecFileExists(FileExistsError):
    """The broker already has a security file; overwriting it would lock hubs out."""


def new_password() -> str:
    """A password for a broker identity: 24 random bytes, URL-safe."""
    return secrets.token_urlsafe(24)


def hashed_password(password: str, salt: bytes | None = None) -> dict[str, object]:
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def document(
    identities: Mapping[Identity, str],
    roles: Sequence[Role],
) -> dict[str, object]:
    """The plugin's JSON for these identities (each with its password) and roles."""
    clients = []
    for identity, password in identities.items():
        client: dict[str, object] = {
            "username": identity.username,
            "textName": "CareWatch",
            "roles": [{"rolename": r} for r in identity.roles],
            **hashed_password(password),
        }
        if identity.client_id is not None:
            client["clientid"] = identity.client_id
        clients.append(client)
    return {
        "clients": clients,
        "groups": [],
        "roles": [r.as_json() for r in roles],
        "defaultACLAccess": dict(DEFAULT_ACCESS),
    }


def write_new(path: Path, identities: Mapping[Identity, str], roles: Sequence[Role]) -> None:
    """Write a first security file, readable only by its owner; refuse to replace one."""
    if path.exists():
        raise DynsecFileExists(f"{path} exists; the broker's clients and roles are already set up there")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(document(identities, roles), f, indent=2)
