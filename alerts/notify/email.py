"""E-mail over SMTP: the channel every NHS organisation already has (NHSmail or local relay).

One delivery is one recipient, so one refused address fails alone and is retried alone.
A delivery is confirmed only when the server has accepted the message for that recipient
(``250`` after DATA); anything short of that is a :class:`DeliveryFailed`. SMTP cannot
deduplicate, so the ``Message-ID`` is derived from the notification id: mail clients and
relays that see a retried copy can recognise it as the same message.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from alerts.notify.message import render_email
from alerts.notify.notifier import Attempt, DeliveryFailed

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str  # From: address, e.g. carewatch-alerts@nhs.net
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.security == "none" and self.username and self.host not in _LOOPBACK:
            raise ValueError("refusing to send SMTP credentials unencrypted to a non-loopback host")


class EmailSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def build(self, attempt: Attempt) -> EmailMessage:
        n = attempt.delivery.notification
        content = render_email(n)
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = attempt.delivery.target
        msg["Subject"] = content.subject
        msg["Date"] = format_datetime(n.created_at)
        domain = self.settings.sender.rpartition("@")[2] or "carewatch.invalid"
        msg["Message-ID"] = f"<{n.notification_id}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
        msg["X-CareWatch-Notification-Id"] = n.notification_id
        msg.set_content(content.text)
        return msg

    def send(self, attempt: Attempt) -> str:
        s = self.settings
        target = attempt.delivery.target
        msg = self.build(attempt)
        context = s.ssl_context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=context)
                if s.username:
                    smtp.login(s.username, s.password or "")
                refused = smtp.send_message(msg, from_addr=s.sender, to_addrs=[target])
        except smtplib.SMTPRecipientsRefused as e:
            code, reply = e.recipients.get(target, (550, b"refused"))
            raise DeliveryFailed(
                f"SMTP {code} recipient refused: {_text(reply)}", permanent=code >= 500
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryFailed(f"SMTP server lacks a required extension: {e}", permanent=True) from e
        except smtplib.SMTPResponseException as e:
            permanent = e.smtp_code >= 500
            raise DeliveryFailed(f"SMTP {e.smtp_code}: {_text(e.smtp_error)}", permanent=permanent) from e
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryFailed(f"SMTP {type(e).__name__}: {e}") from e
        if refused:  # cannot happen with one recipient, but never claim success on a refusal
            raise DeliveryFailed(f"SMTP refused {target}: {refused}")
        return f"smtp accepted by {s.host}:{s.port}"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
