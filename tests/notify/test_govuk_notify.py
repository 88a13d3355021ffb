"""GOV.UK Notify through the real notifications-python-client, against a local HTTP server
impersonating the Notify API (``base_url``): real requests, real JWT, real JSON."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from alerts.notify.govuk_notify import GovUkNotifySender, NotifySettings
from alerts.notify.routing import ChannelKind, RoutingConfig
from server.notifications.dispatch import Dispatcher, DispatchResult
from server.notifications.queue import DeliveryQueue, Status
from tests.notify.helpers import NOTIFICATION_ID, T0, Request, assert_minimal, http_server, notification

SERVICE_ID = str(uuid.UUID("6e1a3f3c-1d0e-4bfa-9a51-7c5e2f0b8d11"))
SECRET = str(uuid.UUID("d2c4b6a8-0f1e-4d3c-8b5a-6978a1b2c3d4"))
API_KEY = f"carewatch_test-{SERVICE_ID}-{SECRET}"
SMS_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
EMAIL_TEMPLATE = "a1b2c3d4-0000-4000-8000-000000000001"
PHONES = ["07700 900123", "07700 900456"]

ROUTING = RoutingConfig.model_validate(
    {
        "teams": {
            "north": {
                "channels": [
                    {"kind": "notify_sms", "to": [PHONES[0]]},
                    {"kind": "notify_email", "to": ["north-dn@nhs.example"]},
                ]
            }
        }
    }
)
ONE_PHONE = RoutingConfig.model_validate(
    {"teams": {"north": {"channels": [{"kind": "notify_sms", "to": PHONES[:1]}]}}}
)
TWO_PHONES = RoutingConfig.model_validate(
    {"teams": {"north": {"channels": [{"kind": "notify_sms", "to": PHONES}]}}}
)


@dataclass
class FakeNotify:
    """Enough of the Notify v2 API: create SMS/e-mail, list by reference; checks the JWT.

    ``script`` is consumed per create request: an HTTP status to fail with, ``"lose"`` to
    accept the notification and drop the connection without an answer, or ``"garbage"``
    to accept it and answer 201 with a body that is not JSON."""

    script: list[int | str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    stall_s: float = 0.0

    def handle(self, request: Request) -> tuple[int, bytes] | None:
        self.requests.append(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["iss", "iat"]})
        except jwt.PyJWTError:
            return _error(403, "AuthError", "Invalid token")
        if claims["iss"] != SERVICE_ID or abs(time.time() - claims["iat"]) > 30:
            return _error(403, "AuthError", "Invalid token")
        url = urlsplit(request.path)
        if request.method == "GET" and url.path == "/v2/notifications":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            found = [
                n
                for n in self.created
                if n["reference"] == query.get("reference")
                and n["type"] == query.get("template_type", n["type"])
            ]
            return 200, json.dumps({"notifications": found, "links": {"current": request.path}}).encode()
        kind = url.path.removeprefix("/v2/notifications/")
        if request.method != "POST" or kind not in {"sms", "email"}:
            return _error(404, "NotFound", "no such endpoint")
        action = self.script.pop(0) if self.script else 201
        if isinstance(action, int) and action != 201:
            return _error(action, "BadRequestError" if action < 500 else "Exception", f"scripted {action}")
        body = request.json()
        record = {
            "id": str(uuid.uuid4()),
            "reference": body.get("reference"),
            "type": kind,
            "phone_number": body.get("phone_number"),
            "email_address": body.get("email_address"),
            "status": "created",
        }
        self.created.append(record)
        if action == "lose":
            return None
        if action == "garbage":
            return 201, b"<html>proxy says hello</html>"
        answer = {
            "id": record["id"],
            "reference": record["reference"],
            "content": {},
            "template": {},
            "uri": "",
        }
        return 201, json.dumps(answer).encode()

    def creates(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]


def _error(status: int, error: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps(
        {"errors": [{"error": error, "message": message}], "status_code": status}
    ).encode()


@pytest.fixture
def notify() -> Iterator[tuple[FakeNotify, GovUkNotifySender]]:
    fake = FakeNotify()
    with http_server(fake) as url:
        settings = NotifySettings(
            api_key=API_KEY,
            sms_template_id=SMS_TEMPLATE,
            email_template_id=EMAIL_TEMPLATE,
            base_url=url,
            timeout=5,
        )
        yield fake, GovUkNotifySender(settings)


def dispatcher(outbox: DeliveryQueue, sender: GovUkNotifySender) -> Dispatcher:
    return Dispatcher(outbox, {ChannelKind.NOTIFY_SMS: sender, ChannelKind.NOTIFY_EMAIL: sender})


def test_sms_and_email_are_what_the_real_client_sends(
    outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]
) -> None:
    fake, sender = notify
    d = dispatcher(outbox, sender)
    d.notify(notification(), ROUTING, T0)
    assert d.run_once(T0) == DispatchResult(sent=2)
    by_path = {r.path: r for r in fake.creates()}
    assert set(by_path) == {"/v2/notifications/sms", "/v2/notifications/email"}
    personalisation = {
        "initials": "MO",
        "severity": "RED",
        "event": "opened",
        "team": "north",
        "link": "https://carewatch.example.nhs.uk/alerts/alert-42",
    }
    assert by_path["/v2/notifications/sms"].json() == {
        "phone_number": PHONES[0],
        "template_id": SMS_TEMPLATE,
        "personalisation": personalisation,
        "reference": NOTIFICATION_ID,
    }
    assert by_path["/v2/notifications/email"].json() == {
        "email_address": "north-dn@nhs.example",
        "template_id": EMAIL_TEMPLATE,
        "personalisation": personalisation,
        "reference": NOTIFICATION_ID,
    }
    for request in by_path.values():
        assert request.headers["Authorization"].startswith("Bearer ey")  # a JWT, verified by the fake
        assert request.headers["User-agent"].startswith("NOTIFY-API-PYTHON-CLIENT/")
        assert_minimal(request.body.decode())
    receipts = {r.receipt for r in outbox.for_notification(NOTIFICATION_ID)}
    assert receipts == {f"notify {n['id']}" for n in fake.created}


def test_rejections_are_permanent_and_visible(
    outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]
) -> None:
    fake, sender = notify
    fake.script = [400, 400]
    d = dispatcher(outbox, sender)
    d.notify(notification(), ROUTING, T0)
    assert d.run_once(T0) == DispatchResult(failed=2)
    assert all("GOV.UK Notify 400" in (r.last_error or "") for r in outbox.list_failed())
    assert all("scripted 400" in (r.last_error or "") for r in outbox.list_failed())


def test_wrong_key_is_permanent(outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]) -> None:
    _, sender = notify
    wrong = NotifySettings(
        api_key=f"carewatch_test-{SERVICE_ID}-{uuid.uuid4()}",
        sms_template_id=SMS_TEMPLATE,
        email_template_id=EMAIL_TEMPLATE,
        base_url=sender.settings.base_url,
    )
    d = dispatcher(outbox, GovUkNotifySender(wrong))
    d.notify(notification(), ROUTING, T0)
    assert d.run_once(T0) == DispatchResult(failed=2)
    assert all("403" in (r.last_error or "") for r in outbox.list_failed())


def test_outage_then_recovery_sends_once(
    outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]
) -> None:
    fake, sender = notify
    fake.script = [500, 503]
    d = dispatcher(outbox, sender)
    d.notify(notification(), ROUTING, T0)
    assert d.run_once(T0) == DispatchResult(retrying=2)
    assert d.run_once(T0 + timedelta(minutes=1)) == DispatchResult(sent=2)
    assert sorted(n["type"] for n in fake.created) == ["email", "sms"]


def test_lost_response_is_not_sent_twice(
    outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]
) -> None:
    """Notify accepted the SMS but the answer was lost: the retry finds it by reference."""
    fake, sender = notify
    fake.script = ["lose", 500]  # first phone: accepted, answer lost; second: failed for real
    d = dispatcher(outbox, sender)
    d.notify(notification(), TWO_PHONES, T0)
    assert d.run_once(T0) == DispatchResult(retrying=2)
    assert d.run_once(T0 + timedelta(minutes=1)) == DispatchResult(sent=2)
    # One SMS per phone, although both carry the same reference and one was "retried".
    assert sorted(n["phone_number"] for n in fake.created) == PHONES
    assert len(fake.creates()) == 3  # lost + failed + the genuine retry; no duplicate create
    receipts = sorted(r.receipt or "" for r in outbox.for_notification(NOTIFICATION_ID))
    assert any("accepted on an earlier attempt" in r for r in receipts)
    assert all(r.status is Status.SENT for r in outbox.for_notification(NOTIFICATION_ID))


def test_unreadable_success_is_confirmed_not_resent(
    outbox: DeliveryQueue, notify: tuple[FakeNotify, GovUkNotifySender]
) -> None:
    fake, sender = notify
    fake.script = ["garbage"]
    d = dispatcher(outbox, sender)
    d.notify(notification(), ONE_PHONE, T0)
    assert d.run_once(T0) == DispatchResult(retrying=1)
    assert d.run_once(T0 + timedelta(minutes=1)) == DispatchResult(sent=1)
    assert len(fake.creates()) == len(fake.created) == 1
