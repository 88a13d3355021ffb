"""The notifiers the settings configure, one per channel kind, with their secrets read from
files. A kind left unconfigured has no notifier: its deliveries fail visibly."""

from __future__ import annotations

from alerts.notify.email import EmailSender, SmtpSettings
from alerts.notify.govuk_notify import GovUkNotifySender, NotifySettings
from alerts.notify.notifier import Notifier
from alerts.notify.routing import ChannelKind
from alerts.notify.webhook import WebhookSender
from server.settings import NotificationSettings


def build_notifiers(cfg: NotificationSettings) -> dict[ChannelKind, Notifier]:
    notifiers: dict[ChannelKind, Notifier] = {}
    if cfg.smtp_host:
        password = cfg.smtp_password_file.read_text().strip() if cfg.smtp_password_file else None
        notifiers[ChannelKind.EMAIL] = EmailSender(
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
        notifiers[ChannelKind.WEBHOOK] = WebhookSender(secrets)
    if cfg.govuk_notify_api_key_file:
        notify = GovUkNotifySender(
            NotifySettings(
                api_key=cfg.govuk_notify_api_key_file.read_text().strip(),
                sms_template_id=cfg.govuk_notify_sms_template_id,
                email_template_id=cfg.govuk_notify_email_template_id,
            )
        )
        notifiers[ChannelKind.NOTIFY_SMS] = notify
        notifiers[ChannelKind.NOTIFY_EMAIL] = notify
    return notifiers
