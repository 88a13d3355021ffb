"""One-off requests from the server to a hub, on the hub's ``commands`` topic (QoS 1, not
retained: a command is for now, and a hub that was away gets it from its persistent session
when it returns, or not at all if the session expired).

Every command carries ``command`` (what it is) and ``command_id`` (the same request delivered
twice, as QoS 1 may, is acted on once). A hub refuses, with a log line, a command it does not
know: it never guesses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from common.wire.messages import AwareDatetime, _Message, _published
from common.wire.topics import HUB_ID_PATTERN
from common.wire.vocabulary import ReadingKind

COMMANDS_V1: Final = "carewatch.commands.v1"
#: Commercial services ask for a retake after five minutes of sitting quietly: long enough
#: for blood pressure to settle, short enough that the patient is still beside the cuff.
DEFAULT_RETAKE_AFTER_S: Final = 300


class RetakeReason(StrEnum):
    """Why the server asks for a reading again."""

    OUT_OF_RANGE = "out_of_range"  # a value outside the patient's band: confirm before alarming anyone
    QUALITY_FLAG = "quality_flag"  # the device flagged it (cuff loose, movement, poor signal)


class RetakeRequest(_Message):
    """ "Please take this reading again": the single most effective way to cut false alerts.

    The hub asks the patient at once (in words for the reading's kind) and reminds them when
    ``retake_after_s`` has passed, unless a new reading of that kind arrived meanwhile."""

    schema_: Literal["carewatch.commands.v1"] = Field(alias="schema", default=COMMANDS_V1)
    command: Literal["retake"] = "retake"
    command_id: UUID = Field(description="idempotency key: a redelivered command is acted on once")
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    issued_at: AwareDatetime
    reading_id: UUID = Field(description="the reading to be taken again")
    kind: ReadingKind
    reason: RetakeReason
    retake_after_s: int = Field(default=DEFAULT_RETAKE_AFTER_S, ge=0, le=3600)


#: Every command a hub understands. A union (discriminated on ``command``) once there are more.
HubCommand = RetakeRequest
_COMMAND: TypeAdapter[HubCommand] = TypeAdapter(HubCommand)


def parse_command(payload: bytes) -> HubCommand:
    """The command in ``payload``; raises ``pydantic.ValidationError`` for anything else."""
    return _COMMAND.validate_json(payload)


def commands_json_schema() -> dict[str, object]:
    """The published JSON Schema of a hub command (docs/wire/commands-v1.schema.json)."""
    return _published(RetakeRequest, "commands-v1", "CareWatch hub command, version 1")
