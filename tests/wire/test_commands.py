"""The server's one-off commands to a hub: the published schema, and what a hub refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.wire.commands import RetakeReason, RetakeRequest, commands_json_schema, parse_command
from common.wire.messages import RemoteConfig, remote_config_json_schema
from common.wire.vocabulary import ReadingKind

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def retake(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema": "carewatch.commands.v1",
        "command": "retake",
        "command_id": str(uuid.UUID(int=1)),
        "hub_id": "hub-0042",
        "issued_at": AT.isoformat(),
        "reading_id": str(uuid.UUID(int=2)),
        "kind": "blood_pressure",
        "reason": "out_of_range",
    }
    body.update(over)
    return body


def test_the_published_commands_schema_is_current_and_a_retake_request_matches_it() -> None:
    import jsonschema

    published = json.loads((ROOT / "docs/wire/commands-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(commands_json_schema())), (
        "regenerate: python -m common.wire commands > docs/wire/commands-v1.schema.json"
    )
    request = RetakeRequest(
        command_id=uuid.uuid4(),
        hub_id="hub-0042",
        issued_at=AT,
        reading_id=uuid.uuid4(),
        kind=ReadingKind.SPO2,
        reason=RetakeReason.QUALITY_FLAG,
    )
    sent = json.loads(request.to_json())
    jsonschema.validate(sent, published)
    assert sent["retake_after_s"] == 300  # five minutes unless the server says otherwise
    assert parse_command(request.to_json()) == request


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"command": "reboot"}, "retake"),  # a command the hub does not know is refused, not guessed
        ({"reason": "because"}, "out_of_range"),
        ({"kind": "glucose"}, "blood_pressure"),
        ({"retake_after_s": 7200}, "less than or equal to 3600"),
        ({"hub_id": "Hub 42"}, "should match pattern"),
        ({"volume": 11}, "Extra inputs"),
    ],
)
def test_malformed_commands_are_refused(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        parse_command(json.dumps(retake(**change)).encode())


def test_the_hub_configuration_carries_the_patients_feedback_preferences() -> None:
    import jsonschema

    published = json.loads((ROOT / "docs/wire/hubconfig-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(remote_config_json_schema()))
    body = {
        "hub_id": "hub-0042",
        "version": 2,
        "issued_at": AT.isoformat(),
        "patient_feedback": {
            "speak": ["received", "retake"],
            "language": "cy",
            "reminders": [{"kind": "blood_pressure", "at": "08:30"}],
        },
    }
    jsonschema.validate(body, published)
    prefs = RemoteConfig.model_validate(body).patient_feedback
    assert prefs is not None and prefs.speak_values is False  # values are never read out by default
    assert prefs.reminders[0].window_min == 120
    for bad in ({"at": "8:30"}, {"at": "24:00"}):
        body["patient_feedback"] = {"reminders": [{"kind": "weight", **bad}]}
        with pytest.raises(ValidationError, match="should match pattern"):
            RemoteConfig.model_validate(body)
