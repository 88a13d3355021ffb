"""What a notification may say, and nothing more.

SMS and e-mail leave the NHS network: they sit on phones, in inboxes, on lock screens and
in providers' logs. So a notification carries only what a clinician needs to decide to
open CareWatch (patient initials, severity, event, team, a link) and never a name, an
identifier such as an NHS number, or a reading. That is enforced by construction, not by
careful callers: :class:`Notification` has no field that could hold them, rejects
initials that look like a name and links that carry a query string, and every rendering
below reads only its fields.

Pure: no I/O, so the rendering is deterministic and a retry sends byte-identical content.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from alerts.severity import Severity

WEBHOOK_SCHEMA: Final = "carewatch.notification/1"
_UK: Final = ZoneInfo("Europe/London")
_INITIALS = re.compile(r"[A-Z]{1,3}")
_MAX_LINK = 300
_MEANING: Final = {Severity.AMBER: "review today", Severity.RED: "act now: same-day clinical contact"}


class Event(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    REMINDER = "reminder"  # still open and unacknowledged
    RESOLVED = "resolved"


class InvalidNotification(ValueError):
    """A notification that would leak more than the minimum, or could not be acted upon."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One thing to tell a team about one alert; the unit of idempotency.

    ``notification_id`` is the idempotency key shown to receivers (``Idempotency-Key``,
    Notify ``reference``): it is the same on every retry and for every channel, so a
    receiver that has seen it can drop the repeat.
    """

    notification_id: str
    alert_id: str
    patient_initials: str
    severity: Severity
    team: str
    link: str
    event: Event
    created_at: datetime

    def __post_init__(self) -> None:
        if not _INITIALS.fullmatch(self.patient_initials):
            raise InvalidNotification("patient_initials must be 1-3 capital letters, never a name")
        if not isinstance(self.severity, Severity) or self.severity is Severity.NONE:
            raise InvalidNotification("only amber or red alerts are notified")
        if not isinstance(self.event, Event):
            raise InvalidNotification(f"unknown event {self.event!r}")
        if self.created_at.tzinfo is None:
            raise InvalidNotification("created_at must be timezone-aware")
        _check_link(self.link)
        for name in ("notification_id", "alert_id", "team"):
            value = getattr(self, name)
            if not value or len(value) > 100 or any(c.isspace() for c in value):
                raise InvalidNotification(f"{name} must be a short token without spaces")

    @classmethod
    def create(
        cls,
        *,
        alert_id: str,
        patient_initials: str,
        severity: Severity,
        team: str,
        link: str,
        event: Event,
        at: datetime,
        notification_id: str | None = None,
    ) -> Notification:
        """Pass ``notification_id`` when the server derives it from its own alert row, so a
        re-enqueue after a crash is recognised as the same notification."""
        return cls(
            notification_id=notification_id or str(uuid.uuid4()),
            alert_id=alert_id,
            patient_initials=patient_initials,
            severity=severity,
            team=team,
            link=link,
            event=event,
            created_at=at,
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "notification_id": self.notification_id,
            "alert_id": self.alert_id,
            "patient_initials": self.patient_initials,
            "severity": self.severity.label,
            "team": self.team,
            "link": self.link,
            "event": self.event.value,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Strict: an unexpected key (a name, a reading) is an error, not silently dropped."""
        expected = {f.name for f in fields(cls)}
        if set(data) != expected:
            raise InvalidNotification(f"notification keys must be exactly {sorted(expected)}")
        return cls(
            notification_id=str(data["notification_id"]),
            alert_id=str(data["alert_id"]),
            patient_initials=str(data["patient_initials"]),
            severity=Severity.from_label(str(data["severity"])),
            team=str(data["team"]),
            link=str(data["link"]),
            event=Event(str(data["event"])),
            created_at=datetime.fromisoformat(str(data["created_at"])),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Notification:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise InvalidNotification("a notification is a JSON object")
        return cls.from_dict(data)


def _check_link(link: str) -> None:
    # Query strings and fragments are where identifiers sneak into URLs (and URLs are
    # logged by SMS gateways and mail relays): the link names the alert, nothing else.
    if not (link.startswith("https://") or link.startswith("http://")):
        raise InvalidNotification("link must be an http(s) URL")
    if len(link) > _MAX_LINK or any(c.isspace() for c in link) or "?" in link or "#" in link:
        raise InvalidNotification("link must be a short URL without query string or fragment")


def initials_of(full_name: str) -> str:
    """The one place a name is reduced to initials, so every caller reduces it the same way:
    first letter of the first and of the last name part ("Mary-Jane O'Neill" -> "MO")."""
    folded = unicodedata.normalize("NFKD", full_name)  # "Ó" -> "O" + combining accent
    parts = [p for p in re.split(r"\s+", folded.strip()) if p]
    letters = [next((c for c in p if c.isascii() and c.isalpha()), "") for p in parts]
    letters = [c.upper() for c in letters if c]
    if not letters:
        raise InvalidNotification("cannot derive initials")
    return letters[0] if len(letters) == 1 else letters[0] + letters[-1]


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    text: str


def _uk_time(at: datetime) -> str:
    return at.astimezone(_UK).strftime("%d %b %Y %H:%M") + " UK time"


def render_sms(n: Notification) -> str:
    """Fits one SMS segment for a typical link, in the GSM alphabet (plain ASCII)."""
    return f"CareWatch: {n.severity.name} alert {n.event.value} for patient {n.patient_initials} ({n.team}). {n.link}"


def render_email(n: Notification) -> EmailContent:
    subject = f"CareWatch: {n.severity.name} alert {n.event.value} - patient {n.patient_initials}"
    text = "\n".join(
        [
            "A CareWatch alert needs attention.",
            "",
            f"Patient:  {n.patient_initials} (initials only)",
            f"Severity: {n.severity.name} - {_MEANING[n.severity]}",
            f"Event:    {n.event.value}",
            f"Team:     {n.team}",
            f"Raised:   {_uk_time(n.created_at)}",
            "",
            f"Open the alert: {n.link}",
            "",
            "This message deliberately carries no names or readings: sign in to CareWatch for details.",
            f"Notification {n.notification_id}",
            "",
        ]
    )
    return EmailContent(subject=subject, text=text)


def render_webhook(n: Notification) -> dict[str, str]:
    return {"schema": WEBHOOK_SCHEMA, **n.to_dict()}


def render_webhook_body(n: Notification) -> bytes:
    """Canonical bytes (sorted keys, no spaces): the signature covers exactly these."""
    return json.dumps(render_webhook(n), sort_keys=True, separators=(",", ":")).encode()


def notify_personalisation(n: Notification) -> dict[str, str]:
    """The only values handed to GOV.UK Notify templates (``((initials))`` and so on)."""
    return {
        "initials": n.patient_initials,
        "severity": n.severity.name,
        "event": n.event.value,
        "team": n.team,
        "link": n.link,
    }
