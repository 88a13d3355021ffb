"""E-mail reaches a real SMTP server (aiosmtpd) started by the test, carrying the minimum."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.notify.email import EmailSender, SmtpSettings
from alerts.notify.routing import ChannelKind, RoutingConfig
from devstack.certs import make_tls_files
from server.notifications.dispatch import Dispatcher
from server.notifications.queue import DeliveryQueue, Status
from tests.notify.helpers import LINK, NOTIFICATION_ID, T0, assert_minimal, free_port, notification

ROUTING = RoutingConfig.model_validate(
    {
        "teams": {
            "north": {
                "channels": [{"kind": "email", "to": ["north-dn@nhs.example", "lead@nhs.example"]}],
            }
        }
    }
)
SENDER = "carewatch-alerts@carewatch.example"


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps what it accepted, refuses addresses on cue."""

    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"carewatch",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


# Plain AUTH on loopback only: the STARTTLS test covers the production path.
LOOPBACK_AUTH: dict[str, Any] = {
    "auth_required": True,
    "auth_require_tls": False,
    "authenticator": _authenticator,
}
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@contextmanager
def smtp_server(mailbox: Mailbox, port: int | None = None, **kwargs: Any) -> Iterator[int]:
    port = port or free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def settings(port: int, **overrides: Any) -> SmtpSettings:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "carewatch",
        "password": "s3cret",
        "sender": SENDER,
        "timeout": 5.0,
    }
    base.update(overrides)
    return SmtpSettings(**base)


def body_of(message: Message) -> str:
    part = message.get_payload(decode=True)
    assert isinstance(part, bytes)
    return part.decode()


def test_email_arrives_with_initials_severity_and_link_only(outbox: DeliveryQueue) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, **LOOPBACK_AUTH) as port:
        dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: EmailSender(settings(port))})
        assert len(dispatcher.notify(notification(), ROUTING, T0)) == 2
        result = dispatcher.run_once(T0)
    assert (result.sent, result.retrying, result.failed) == (2, 0, 0)
    assert sorted(rcpt for _, rcpts, _ in mailbox.messages for rcpt in rcpts) == [
        "lead@nhs.example",
        "north-dn@nhs.example",
    ]
    for mail_from, _, message in mailbox.messages:
        assert mail_from == SENDER
        assert message["Subject"] == "CareWatch: RED alert opened - patient MO"
        assert message["Message-ID"] == f"<{NOTIFICATION_ID}@carewatch.example>"
        assert message["Auto-Submitted"] == "auto-generated"
        body = body_of(message)
        assert "MO" in body and "RED" in body and LINK in body
        assert_minimal(message.as_string())
    assert all(r.status is Status.SENT for r in outbox.for_notification(NOTIFICATION_ID))


def test_starttls_and_auth(tmp_path: Path, outbox: DeliveryQueue) -> None:
    tls = make_tls_files(tmp_path / "tls")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls.server_cert, tls.server_key)
    client_ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
    mailbox = Mailbox()
    with smtp_server(
        mailbox,
        tls_context=server_ctx,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    ) as port:
        sender = EmailSender(settings(port, security="starttls", ssl_context=client_ctx))
        dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: sender})
        dispatcher.notify(notification(), ROUTING, T0)
        assert dispatcher.run_once(T0).sent == 2
    assert len(mailbox.messages) == 2


def test_refusals_are_permanent_or_retried_by_reply_code(outbox: DeliveryQueue) -> None:
    mailbox = Mailbox(
        refuse={"north-dn@nhs.example": "550 5.1.1 No such user", "lead@nhs.example": "451 4.3.0 Try later"}
    )
    with smtp_server(mailbox) as port:
        dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: EmailSender(settings(port, username=None))})
        dispatcher.notify(notification(), ROUTING, T0)
        result = dispatcher.run_once(T0)
        assert (result.sent, result.retrying, result.failed) == (0, 1, 1)
        [failed] = outbox.list_failed()
        assert failed.target == "north-dn@nhs.example"
        assert (
            failed.last_error is not None
            and "550" in failed.last_error
            and "No such user" in failed.last_error
        )
        mailbox.refuse.clear()
        assert dispatcher.run_once(T0 + timedelta(minutes=1)).sent == 1
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [["lead@nhs.example"]]
    assert outbox.stats(T0).failed == 1  # still there, still visible


def test_wrong_password_fails_permanently(outbox: DeliveryQueue) -> None:
    with smtp_server(Mailbox(), **LOOPBACK_AUTH) as port:
        dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: EmailSender(settings(port, password="wrong"))})
        dispatcher.notify(notification(), ROUTING, T0)
        assert dispatcher.run_once(T0).failed == 2
    assert all("535" in (r.last_error or "") for r in outbox.list_failed())


def test_server_down_then_up_delivers_once(outbox: DeliveryQueue) -> None:
    port = free_port()
    dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: EmailSender(settings(port, username=None))})
    dispatcher.notify(notification(), ROUTING, T0)
    assert dispatcher.run_once(T0).retrying == 2  # connection refused
    [record, _] = outbox.for_notification(NOTIFICATION_ID)
    assert record.status is Status.PENDING and "Connection" in (record.last_error or "")
    mailbox = Mailbox()
    with smtp_server(mailbox, port=port):
        assert dispatcher.run_once(T0 + timedelta(seconds=1)).sent == 0  # not due yet: backoff
        assert dispatcher.run_once(T0 + timedelta(seconds=20)).sent == 2
        assert dispatcher.run_once(T0 + timedelta(hours=1)).sent == 0
    assert len(mailbox.messages) == 2


def test_credentials_never_go_unencrypted_off_the_machine() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        SmtpSettings(host="relay.nhs.example", security="none", username="u", password="p", sender=SENDER)
