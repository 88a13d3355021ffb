"""Notifications carry the minimum, by construction: no field could hold a name or a value."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from alerts.notify.message import (
    Event,
    InvalidNotification,
    Notification,
    initials_of,
    notify_personalisation,
    render_email,
    render_sms,
    render_webhook,
    render_webhook_body,
)
from alerts.severity import Severity
from tests.notify.helpers import LINK, NOTIFICATION_ID, PATIENT_NAME, T0, assert_minimal, notification


def test_the_type_has_no_field_for_names_identifiers_or_values() -> None:
    assert {f.name for f in dataclasses.fields(Notification)} == {
        "notification_id",
        "alert_id",
        "patient_initials",
        "severity",
        "team",
        "link",
        "event",
        "created_at",
    }
    n = notification()
    with pytest.raises((AttributeError, TypeError)):
        object.__setattr__(n, "patient_name", PATIENT_NAME)  # slots: nowhere to put it
    with pytest.raises(TypeError):
        Notification.create(patient_name=PATIENT_NAME)  # type: ignore[call-arg]


@pytest.mark.parametrize("initials", ["Margaret", "MARGARET", "M O", "mo", "", "M.O.", "9434765919"])
def test_initials_that_could_be_a_name_or_identifier_are_rejected(initials: str) -> None:
    with pytest.raises(InvalidNotification):
        notification(patient_initials=initials)


@pytest.mark.parametrize(
    "link",
    [
        "https://carewatch.example/alerts/42?patient=Margaret",
        "https://carewatch.example/alerts/42#nhs=9434765919",
        "ftp://carewatch.example/a",
        "carewatch.example/a",
        "https://carewatch.example/a b",
    ],
)
def test_links_cannot_smuggle_details(link: str) -> None:
    with pytest.raises(InvalidNotification):
        notification(link=link)


def test_other_invariants() -> None:
    with pytest.raises(InvalidNotification):
        notification(severity=Severity.NONE)
    with pytest.raises(InvalidNotification):
        notification(at=datetime(2025, 1, 1, 9, 0))  # naive
    with pytest.raises(InvalidNotification):
        notification(team="north team")


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("Margaret Oyelaran-Smith", "MO"),
        ("Mary-Jane O'Neill", "MO"),
        ("  cher ", "C"),
        ("Ana de la Cruz", "AC"),
    ],
)
def test_initials_of(name: str, initials: str) -> None:
    assert initials_of(name) == initials


def test_renderings_carry_initials_severity_event_and_link_only() -> None:
    n = notification()
    sms = render_sms(n)
    email = render_email(n)
    hook = render_webhook_body(n).decode()
    for text in (sms, email.subject, email.text, hook):
        assert_minimal(text)
        assert "RED" in text.upper()
    for text in (sms, email.text, hook):
        assert LINK in text
    assert "opened" in sms
    assert len(sms) <= 160 and sms.isascii()
    assert email.subject.isascii()
    assert "10:00 UK time" in email.text  # 09:00 UTC in BST
    assert json.loads(hook) == render_webhook(n)
    assert set(notify_personalisation(n)) == {"initials", "severity", "event", "team", "link"}
    assert notify_personalisation(n)["initials"] == "MO"


def test_round_trip_and_strict_parsing() -> None:
    n = notification(event=Event.ESCALATED, severity=Severity.AMBER)
    assert Notification.from_json(n.to_json()) == n
    data = n.to_dict() | {"patient_name": PATIENT_NAME}
    with pytest.raises(InvalidNotification):
        Notification.from_dict(data)
    with pytest.raises(InvalidNotification):
        Notification.from_json("[]")


def test_rendering_is_deterministic_so_retries_are_identical() -> None:
    assert render_webhook_body(notification()) == render_webhook_body(notification())
    assert notification().notification_id == NOTIFICATION_ID
    fresh = Notification.create(
        alert_id="a1",
        patient_initials="AB",
        severity=Severity.RED,
        team="t",
        link=LINK,
        event=Event.OPENED,
        at=T0,
    )
    assert fresh.notification_id != NOTIFICATION_ID
