"""MQTT topic layout: ``carewatch/v1/hubs/{hub_id}/{channel}``.

The hub id is also the hub's MQTT user name, which is what lets the broker's ACL pattern
``carewatch/v1/hubs/%u/#`` confine every hub to its own subtree: a hub cannot publish a
reading that claims to come from another hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "carewatch/v1/hubs"
HUB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
_HUB_ID = re.compile(HUB_ID_PATTERN)


class Channel(StrEnum):
    READINGS = "readings"  # hub -> server, QoS 1: ReadingBatch
    STATUS = "status"  # hub -> server, retained; last will "offline"
    TELEMETRY = "telemetry"  # hub -> server, QoS 0: battery, outbox depth, radio state
    CONFIG = "config"  # server -> hub, retained: the hub's desired configuration
    COMMANDS = "commands"  # server -> hub, QoS 1: one-off requests
    COMMAND_RESULTS = "command-results"  # hub -> server, QoS 1
    RECEIPTS = "receipts"  # server -> hub, QoS 1: ReadingReceipt, "these readings are stored"


class TopicError(ValueError):
    """A topic or hub id that does not follow the layout."""


#: Broker user names starting so belong to the server's own identities (the ingest, the
#: control plane): a hub given such an id would be given their powers.
RESERVED_PREFIX = "carewatch-"


def valid_hub_id(hub_id: str) -> bool:
    return bool(_HUB_ID.fullmatch(hub_id)) and not hub_id.startswith(RESERVED_PREFIX)


def topic(hub_id: str, channel: Channel) -> str:
    if not valid_hub_id(hub_id):
        raise TopicError(
            f"hub id {hub_id!r} must be 3-63 lower-case letters, digits or '-', starting alphanumeric, "
            f"and not start with {RESERVED_PREFIX!r}"
        )
    return f"{ROOT}/{hub_id}/{channel.value}"


def subscription(channel: Channel) -> str:
    """The wildcard the server uses to hear one channel from every hub."""
    return f"{ROOT}/+/{channel.value}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    hub_id: str
    channel: Channel


def parse(topic_name: str) -> ParsedTopic:
    prefix = ROOT + "/"
    if not topic_name.startswith(prefix):
        raise TopicError(f"topic {topic_name!r} is not under {ROOT}/")
    parts = topic_name[len(prefix) :].split("/")
    if len(parts) != 2:
        raise TopicError(f"topic {topic_name!r} is not {ROOT}/<hub_id>/<channel>")
    hub_id, channel = parts
    if not valid_hub_id(hub_id):
        raise TopicError(f"topic {topic_name!r} has an invalid hub id")
    try:
        return ParsedTopic(hub_id, Channel(channel))
    except ValueError:
        raise TopicError(f"topic {topic_name!r} has an unknown channel {channel!r}") from None


#: What a hub sends, and what only the server sends to it: the ACL follows these.
HUB_WRITES: tuple[Channel, ...] = (
    Channel.READINGS,
    Channel.STATUS,
    Channel.TELEMETRY,
    Channel.COMMAND_RESULTS,
)
HUB_READS: tuple[Channel, ...] = (Channel.CONFIG, Channel.COMMANDS, Channel.RECEIPTS)
#: Of what the server sends a hub, what the ingest worker sends: receipts, and the retake
#: requests its judge raises on arriving readings (commands).
INGEST_WRITES: tuple[Channel, ...] = (Channel.RECEIPTS, Channel.COMMANDS)
#: What the control plane (the API and the command line) sends a hub: configuration and
#: one-off commands.
CONTROL_WRITES: tuple[Channel, ...] = (Channel.CONFIG, Channel.COMMANDS)
#: What the ingest worker hears from every hub, and at which QoS (telemetry is a snapshot).
INGEST_HEARS: tuple[tuple[Channel, int], ...] = (
    (Channel.READINGS, 1),
    (Channel.STATUS, 1),
    (Channel.TELEMETRY, 0),
)
