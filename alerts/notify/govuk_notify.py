"""GOV.UK Notify: SMS and e-mail for UK public-sector deployments, through Notify's own client.

Wording lives in Notify templates (so it is reviewed in Notify, by the service owner);
we send only :func:`~alerts.notify.message.notify_personalisation`. Suggested templates:

* SMS: ``CareWatch: ((severity)) alert ((event)) for patient ((initials)) (((team))). ((link))``
* E-mail subject ``CareWatch: ((severity)) alert ((event)) - patient ((initials))``, body
  ``Patient ((initials)), severity ((severity)), team ((team)). Open the alert: ((link))``

``reference`` is the notification id. Notify does not deduplicate on it, so before a
*retry* we ask Notify whether it already holds a notification with that reference for
that recipient (the first try may have been accepted with the response lost) and, if so,
confirm instead of sending a second SMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from notifications_python_client.errors import APIError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient

from alerts.notify.message import notify_personalisation
from alerts.notify.notifier import Attempt, DeliveryFailed
from alerts.notify.routing import ChannelKind

DEFAULT_BASE_URL = "https://api.notifications.service.gov.uk"
_RETRYABLE = {429}  # plus 5xx; the client reports connection failures as 503


class NotifyClient(Protocol):
    """The slice of ``NotificationsAPIClient`` we use, typed (the library is not)."""

    def send_sms_notification(
        self,
        phone_number: str,
        template_id: str,
        personalisation: dict[str, str] | None = ...,
        reference: str | None = ...,
    ) -> dict[str, Any]: ...

    def send_email_notification(
        self,
        email_address: str,
        template_id: str,
        personalisation: dict[str, str] | None = ...,
        reference: str | None = ...,
    ) -> dict[str, Any]: ...

    def get_all_notifications(
        self, status: str | None = ..., template_type: str | None = ..., reference: str | None = ...
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySettings:
    api_key: str = field(repr=False)
    sms_template_id: str | None = None
    email_template_id: str | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 10.0


def _real_client(settings: NotifySettings) -> NotifyClient:
    client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
        settings.api_key, base_url=settings.base_url, timeout=settings.timeout
    )
    return cast(NotifyClient, client)


class GovUkNotifySender:
    """Serves both ``notify_sms`` and ``notify_email`` deliveries. The library's client is
    not thread-safe; the dispatcher sends sequentially, which is all this assumes."""

    def __init__(
        self,
        settings: NotifySettings,
        client_factory: Callable[[NotifySettings], NotifyClient] = _real_client,
    ) -> None:
        self.settings = settings
        self._client = client_factory(settings)

    def send(self, attempt: Attempt) -> str:
        d = attempt.delivery
        n = d.notification
        if d.channel is ChannelKind.NOTIFY_SMS:
            template_id, template_type = self.settings.sms_template_id, "sms"
        elif d.channel is ChannelKind.NOTIFY_EMAIL:
            template_id, template_type = self.settings.email_template_id, "email"
        else:
            raise DeliveryFailed(f"GOV.UK Notify cannot send {d.channel.value}", permanent=True)
        if not template_id:
            raise DeliveryFailed(f"no GOV.UK Notify {template_type} template configured", permanent=True)
        try:
            if attempt.number > 1:
                existing = self._already_accepted(n.notification_id, template_type, d.target)
                if existing:
                    return f"notify {existing} (accepted on an earlier attempt)"
            personalisation = notify_personalisation(n)
            if template_type == "sms":
                response = self._client.send_sms_notification(
                    phone_number=d.target,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=n.notification_id,
                )
            else:
                response = self._client.send_email_notification(
                    email_address=d.target,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=n.notification_id,
                )
        except InvalidResponse as e:
            # A 2xx we could not read: Notify probably accepted it. Retry, and the retry's
            # lookup by reference confirms it rather than sending a second message.
            raise DeliveryFailed(f"GOV.UK Notify answered {e.status_code} without readable JSON") from e
        except APIError as e:
            status = e.status_code
            retryable = status in _RETRYABLE or status >= 500
            raise DeliveryFailed(f"GOV.UK Notify {status}: {e.message}", permanent=not retryable) from e
        return f"notify {response.get('id', '?')}"

    def _already_accepted(self, reference: str, template_type: str, target: str) -> str | None:
        found = self._client.get_all_notifications(template_type=template_type, reference=reference)
        for item in found.get("notifications") or []:
            recipient = item.get("phone_number") if template_type == "sms" else item.get("email_address")
            if isinstance(recipient, str) and _same_recipient(recipient, target, template_type):
                return str(item.get("id", "?"))
        return None


def _same_recipient(a: str, b: str, template_type: str) -> bool:
    if template_type == "email":
        return a.strip().casefold() == b.strip().casefold()
    # Notify may normalise 07700 900123 to +447700900123: compare the national number.
    da, db = ("".join(c for c in x if c.isdigit()) for x in (a, b))
    return da[-10:] == db[-10:]
