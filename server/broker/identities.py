"""Who may use the broker, and for what: the roles of the dynamic-security plugin, derived
from the topic layout in ``common.wire.topics`` so the broker and the code cannot disagree.

Three kinds of identity, each with its own password and nothing more than it needs:

* a hub (user name = hub id) writes only the channels a hub sends and reads only what the
  server sends it, in its own subtree, and may connect only with its own hub id as client
  id, so no hub can take over another client's persistent session (a hub's password sits
  on an SD card in a patient's home);
* the ingest worker (``carewatch-ingest``, client id bound the same way) hears every hub's
  readings, status and telemetry and writes only receipts and retake requests;
* the server's control plane (``carewatch-server``: the API, the command line) writes hubs'
  configuration and commands and administers the plugin; it reads no readings.

Anything not allowed is denied (every default access is false). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.wire.topics import (
    CONTROL_WRITES,
    HUB_READS,
    HUB_WRITES,
    INGEST_HEARS,
    INGEST_WRITES,
    ROOT,
    topic,
)

INGEST_USER = "carewatch-ingest"
SERVER_USER = "carewatch-server"
INGEST_ROLE = "carewatch-ingest"
CONTROL_ROLE = "carewatch-control"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"

AclType = Literal[
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
    "unsubscribeLiteral",
    "unsubscribePattern",
]


@dataclass(frozen=True, slots=True)
class Acl:
    acltype: AclType
    topic: str
    allow: bool = True

    def as_json(self) -> dict[str, object]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow, "priority": 0}


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    acls: tuple[Acl, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, object]:
        return {"rolename": self.name, "acls": [a.as_json() for a in self.acls]}


def _hears(topic_filter: str) -> tuple[Acl, ...]:
    """Subscribe to exactly this filter and receive what it matches."""
    return (Acl("subscribeLiteral", topic_filter), Acl("publishClientReceive", topic_filter))


def hub_role_name(hub_id: str) -> str:
    return f"hub:{hub_id}"


def hub_role(hub_id: str) -> Role:
    """One role per hub: the plugin (Mosquitto 2.0) does not substitute ``%u`` in ACL topics,
    so each hub's own topics are spelt out. ``topic`` validates the hub id."""
    writes = tuple(Acl("publishClientSend", topic(hub_id, c)) for c in HUB_WRITES)
    reads = tuple(acl for c in HUB_READS for acl in _hears(topic(hub_id, c)))
    return Role(hub_role_name(hub_id), writes + reads)


def ingest_role() -> Role:
    hears = tuple(acl for c, _ in INGEST_HEARS for acl in _hears(f"{ROOT}/+/{c.value}"))
    writes = tuple(Acl("publishClientSend", f"{ROOT}/+/{c.value}") for c in INGEST_WRITES)
    return Role(INGEST_ROLE, hears + writes)


def control_role() -> Role:
    writes = tuple(Acl("publishClientSend", f"{ROOT}/+/{c.value}") for c in CONTROL_WRITES)
    admin = (
        Acl("publishClientSend", CONTROL_TOPIC),
        *_hears(f"{CONTROL_TOPIC}/response"),
    )
    return Role(CONTROL_ROLE, writes + admin)


#: The plugin's default for anything no role mentions: deny everything.
DEFAULT_ACCESS: dict[str, bool] = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,  # unsubscribing from what one may not hear harms nothing
}


@dataclass(frozen=True, slots=True)
class Identity:
    """A broker client: user name, the one client id it may connect with (None: any, for
    short-lived control-plane connections), and its roles."""

    username: str
    client_id: str | None
    roles: tuple[str, ...]


def hub_identity(hub_id: str) -> Identity:
    return Identity(hub_id, hub_id, (hub_role_name(hub_id),))


def ingest_identity(username: str = INGEST_USER) -> Identity:
    return Identity(username, username, (INGEST_ROLE,))


def server_identity(username: str = SERVER_USER) -> Identity:
    return Identity(username, None, (CONTROL_ROLE,))


def example_roles(hub_id: str = "hub-0042") -> list[dict[str, object]]:
    """The roles a deployment has, with one hub's as the example (deploy/mosquitto/roles.example.json)."""
    return [control_role().as_json(), ingest_role().as_json(), hub_role(hub_id).as_json()]


if __name__ == "__main__":
    import json

    print(json.dumps({"defaultACLAccess": DEFAULT_ACCESS, "roles": example_roles()}, indent=2))
