"""Administering the broker while it runs, through the dynamic-security plugin's control
topic: add a hub's identity, change its password, disable or remove it. No reload, no file
edits, no restart: a reload after a restart once lost readings the broker had acknowledged.

A short-lived MQTT v5 connection as the server's control identity. Each command carries a
correlation id, and the plugin's answer is matched on it, so concurrent administrators (the
API and the command line) never take each other's answers.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt import BrokerEndpoint, tls_client
from common.wire.topics import RESERVED_PREFIX, valid_hub_id
from server.broker.identities import CONTROL_TOPIC, Identity, Role, hub_identity, hub_role, hub_role_name

log = logging.getLogger(__name__)


class BrokerAdminError(RuntimeError):
    """The broker could not be reached, or its security plugin refused a command."""


class IdentityRefused(BrokerAdminError):
    """A helper was asked to touch an identity outside its namespace: a hub helper given the
    server's or the ingest's own user (or a name the broker holds with a service's role), or
    the service helper given a hub id. Refused before any change is sent: re-keying or
    disabling the control identity or the ingest worker through a hub id would lock the
    server out of its own broker, or hand a hub the ingest's session."""


class BrokerAdmin:
    """``with BrokerAdmin(endpoint) as admin: admin.add_hub("hub-0042")``."""

    def __init__(self, endpoint: BrokerEndpoint, *, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._client = tls_client(endpoint, f"carewatch-admin-{uuid.uuid4().hex[:12]}")
        self._answers: dict[str, dict[str, Any]] = {}
        self._cv = threading.Condition()
        self._ready = threading.Event()
        self._refused: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # -- connection ------------------------------------------------------------------------
    def __enter__(self) -> BrokerAdmin:
        ep = self.endpoint
        try:
            self._client.connect(ep.host, ep.port, keepalive=30)
        except OSError as e:
            raise BrokerAdminError(f"cannot reach the broker at {ep.host}:{ep.port}: {e}") from None
        self._client.loop_start()
        if not self._ready.wait(self.timeout) or self._refused:
            self.close()
            raise BrokerAdminError(
                f"the broker at {ep.host}:{ep.port} did not accept {ep.username!r} as administrator: "
                f"{self._refused or 'no answer'}"
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            self._ready.set()
            return
        client.subscribe(f"{CONTROL_TOPIC}/response", qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, u: object, mid: int, rcs: list[ReasonCode], p: object
    ) -> None:
        if any(rc.is_failure for rc in rcs):
            self._refused = f"may not read the plugin's answers ({rcs[0]})"
        self._ready.set()

    def _on_message(self, client: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable answer from the broker's security plugin: %r", msg.payload[:200])
            return
        with self._cv:
            for r in responses:
                if isinstance(r, dict) and isinstance(r.get("correlationData"), str):
                    self._answers[r["correlationData"]] = r
            self._cv.notify_all()

    # -- commands --------------------------------------------------------------------------
    def run(self, *commands: dict[str, Any], tolerate: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Send commands in one message and return the plugin's answers, in order. An answer
        with an error raises ``BrokerAdminError`` unless the error is one of ``tolerate``
        (e.g. "Client already exists" when making sure something exists)."""
        tagged = [dict(c, correlationData=uuid.uuid4().hex) for c in commands]
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        info.wait_for_publish(self.timeout)
        ids = [c["correlationData"] for c in tagged]
        with self._cv:
            done = self._cv.wait_for(lambda: all(i in self._answers for i in ids), timeout=self.timeout)
            answers = [self._answers.pop(i, {}) for i in ids]
        if not done:
            raise BrokerAdminError(
                "the broker's security plugin did not answer (is the dynamic-security plugin loaded?)"
            )
        for command, answer in zip(tagged, answers, strict=True):
            error = answer.get("error")
            if error and error not in tolerate:
                raise BrokerAdminError(f"{command['command']} refused by the broker: {error}")
        return answers

    def ensure_role(self, role: Role) -> None:
        """Create the role, or bring an existing one's ACLs up to date (e.g. a new channel)."""
        self.run({"command": "createRole", "rolename": role.name}, tolerate=("Role already exists",))
        current = self.run({"command": "getRole", "rolename": role.name})[0]
        have = {
            (a["acltype"], a["topic"]): a for a in current.get("data", {}).get("role", {}).get("acls", [])
        }
        want = {(a.acltype, a.topic): a for a in role.acls}
        changes: list[dict[str, Any]] = [
            {"command": "removeRoleACL", "rolename": role.name, "acltype": t, "topic": topic}
            for (t, topic) in have.keys() - want.keys()
        ]
        changes += [
            {"command": "addRoleACL", "rolename": role.name, **want[k].as_json()}
            for k in want.keys() - have.keys()
        ]
        if changes:
            self.run(*changes)

    def ensure_client(self, identity: Identity, password: str) -> None:
        """A service's identity (the ingest worker, an observer): only in the server's own
        namespace (``carewatch-…``), which no hub id may enter, so this never re-keys a hub."""
        if not identity.username.startswith(RESERVED_PREFIX):
            raise IdentityRefused(
                f"{identity.username!r} is not one of the server's own identities "
                f"(they start with {RESERVED_PREFIX!r}); hubs go through add_hub"
            )
        self._ensure_client(identity, password)

    def _ensure_client(self, identity: Identity, password: str) -> None:
        """Create the client with this password, or, if it exists, give it its roles and its
        client id again, then this password, and enable it (rotation, re-issue after a loss).
        The password comes last: a refusal before it leaves the old one working."""
        found = self.run(
            {"command": "getClient", "username": identity.username}, tolerate=("Client not found",)
        )[0]
        bound = {"clientid": identity.client_id} if identity.client_id else {}
        if found.get("error"):
            self.run(
                {
                    "command": "createClient",
                    "username": identity.username,
                    "password": password,
                    **bound,
                    "roles": [{"rolename": r} for r in identity.roles],
                }
            )
            return
        client = found.get("data", {}).get("client", {})
        have = {r.get("rolename") for r in client.get("roles", [])}
        self.run(
            {"command": "setClientId", "username": identity.username, **bound},
            *(
                {"command": "addClientRole", "username": identity.username, "rolename": r}
                for r in identity.roles
                if r not in have
            ),
            {"command": "setClientPassword", "username": identity.username, "password": password},
            {"command": "enableClient", "username": identity.username},
        )

    def _hub_only(self, hub_id: str) -> None:
        """Refuse anything but a hub's own identity, by its name and by what the broker holds:
        the administrator itself, a name in the server's namespace, or an existing client
        with any role but this hub's (the ingest's, the control plane's) is not a hub."""
        if hub_id == self.endpoint.username or not valid_hub_id(hub_id):
            raise IdentityRefused(
                f"{hub_id!r} is not a hub's identity (a hub id is 3-63 lower-case letters, digits "
                f"or '-', not starting with {RESERVED_PREFIX!r}, and never the server's own user)"
            )
        found = self.run({"command": "getClient", "username": hub_id}, tolerate=("Client not found",))[0]
        roles = {r.get("rolename") for r in found.get("data", {}).get("client", {}).get("roles", [])}
        foreign = sorted(str(r) for r in roles - {hub_role_name(hub_id)})
        if foreign:
            raise IdentityRefused(
                f"the broker's client {hub_id!r} has the role(s) {', '.join(foreign)}: it is not a hub; "
                "nothing was changed"
            )

    def add_hub(self, hub_id: str, password: str) -> None:
        """Let hub ``hub_id`` connect with ``password`` (and only as client id ``hub_id``)."""
        self._hub_only(hub_id)
        self.ensure_role(hub_role(hub_id))
        self._ensure_client(hub_identity(hub_id), password)

    def rotate_hub(self, hub_id: str, password: str) -> None:
        """A new password, and the live session (opened with the old one) dropped at once:
        Mosquitto 2.0 keeps a connected client connected through ``setClientPassword``, but
        ``disableClient`` kicks it. The hub's reconnection is then checked against the new
        password, so only a hub holding it gets back in."""
        self.add_hub(hub_id, password)
        self.run(
            {"command": "disableClient", "username": hub_id},
            {"command": "enableClient", "username": hub_id},
        )

    def enable(self, hub_id: str) -> None:
        """Let a hub in again with the password it has (undoing a disable that did not commit)."""
        self._hub_only(hub_id)
        self.run({"command": "enableClient", "username": hub_id})

    def disable(self, hub_id: str) -> None:
        """Refuse this hub from now on; the broker disconnects it if it is connected."""
        self._hub_only(hub_id)
        self.run({"command": "disableClient", "username": hub_id})

    def remove_hub(self, hub_id: str) -> None:
        self._hub_only(hub_id)
        role = hub_role(hub_id).name
        self.run(
            {"command": "deleteClient", "username": hub_id},
            {"command": "deleteRole", "rolename": role},
            tolerate=("Client not found", "Role not found"),
        )
