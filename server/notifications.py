"""From owed notifications in the database to deliveries on the team's channels.

The alert transaction writes an ``alert_notifications`` row; ``NotificationRelay`` turns
each into a minimal ``Notification`` (initials, severity, team, a link — never a name or a
value), routes it and enqueues it in the durable delivery outbox, then the dispatcher
sends what is due, retrying failures with backoff. Each step can crash and be repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from alerts.notify.config import load_routing_config
from alerts.notify.email import EmailSender, SmtpSettings
from alerts.notify.govuk_notify import GovUkNotifySender, NotifySettings
from alerts.notify.message import Event, Notification, initials_of
from alerts.notify.notifier import Notifier
from alerts.notify.outbox import Dispatcher, DispatchResult, Outbox
from alerts.notify.routing import ChannelKind, RoutingConfig
from alerts.notify.webhook import WebhookSender
from alerts.severity import Severity
from server.settings import NotificationSettings
from server.store.database import Database
from server.store.models import Alert, AlertNotification, Patient

log = logging.getLogger(__name__)


def build_channels(cfg: NotificationSettings) -> dict[ChannelKind, Notifier]:
    channels: dict[ChannelKind, Notifier] = {}
    if cfg.smtp_host:
        password = cfg.smtp_password_file.read_text().strip() if cfg.smtp_password_file else None
        channels[ChannelKind.EMAIL] = EmailSender(
            SmtpSettings(
                host=cfg.smtp_host,
                port=cfg.smtp_port,
                security=cfg.smtp_security,
                username=cfg.smtp_username,
                password=password,
                sender=cfg.smtp_sender,
            )
        )
    if cfg.webhook_secrets_dir:
        secrets = {
            p.name: p.read_text().strip() for p in sorted(cfg.webhook_secrets_dir.iterdir()) if p.is_file()
        }
        channels[ChannelKind.WEBHOOK] = WebhookSender(secrets)
    if cfg.govuk_notify_api_key_file:
        notify = GovUkNotifySender(
            NotifySettings(
                api_key=cfg.govuk_notify_api_key_file.read_text().strip(),
                sms_template_id=cfg.govuk_notify_sms_template_id,
                email_template_id=cfg.govuk_notify_email_template_id,
            )
        )
        channels[ChannelKind.NOTIFY_SMS] = notify
        channels[ChannelKind.NOTIFY_EMAIL] = notify
    return channels


@dataclass
class NotificationRelay:
    db: Database
    dispatcher: Dispatcher
    routing: RoutingConfig
    public_url: str

    @classmethod
    def from_settings(
        cls, db: Database, cfg: NotificationSettings, public_url: str
    ) -> NotificationRelay | None:
        if cfg.routing_file is None:
            log.warning("no notification routing file configured: alerts are raised but nobody is told")
            return None
        cfg.outbox_path.parent.mkdir(parents=True, exist_ok=True)
        dispatcher = Dispatcher(Outbox(cfg.outbox_path), build_channels(cfg))
        return cls(db, dispatcher, load_routing_config(cfg.routing_file), public_url.rstrip("/"))

    def relay(self, now: datetime) -> int:
        """Enqueue every owed notification; returns how many."""
        with self.db.session() as s:
            owed = list(
                s.execute(
                    select(AlertNotification, Alert, Patient)
                    .join(Alert, AlertNotification.alert_id == Alert.id)
                    .join(Patient, Alert.patient_id == Patient.id)
                    .where(AlertNotification.enqueued_at.is_(None))
                    .order_by(AlertNotification.created_at)
                    .limit(500)
                )
            )
            for row, alert, patient in owed:
                notification = Notification.create(
                    alert_id=str(alert.id),
                    patient_initials=initials_of(patient.display_name),
                    severity=Severity.from_label(row.severity),
                    team=patient.team,
                    link=f"{self.public_url}/alerts/{alert.id}",
                    event=Event(row.event),
                    at=row.created_at,
                    notification_id=row.id,
                )
                self.dispatcher.notify(notification, self.routing, now)
                row.enqueued_at = now
        return len(owed)

    def dispatch(self, now: datetime) -> DispatchResult:
        return self.dispatcher.run_once(now)
