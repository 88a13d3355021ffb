"""From owed notifications to queued deliveries, in one transaction of the server's database.

The alert transaction writes an ``alert_notifications`` row; :meth:`NotificationRelay.relay`
turns each into a minimal ``Notification`` (initials, severity, team, a link: never a name or
a value), routes it, queues its deliveries and marks the row routed, all in one commit: a
crash leaves either the row owed (routed again next tick) or its deliveries queued, never a
gap between the two. The rows are taken with ``FOR UPDATE ... SKIP LOCKED`` on PostgreSQL,
so a second ticker routes none of them twice (on SQLite the deterministic delivery ids make
a second routing add nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from alerts.notify.config import load_routing_config
from alerts.notify.message import Event, InvalidNotification, Notification, initials_of
from alerts.notify.routing import RoutingConfig, RoutingError
from alerts.severity import Severity
from server.notifications.dispatch import Dispatcher, DispatchResult
from server.notifications.notifiers import build_notifiers
from server.notifications.queue import DeliveryQueue
from server.settings import NotificationSettings
from server.store.database import Database
from server.store.models import Alert, AlertNotification, Patient

log = logging.getLogger(__name__)

BATCH = 500


class UnroutedNotifications(RuntimeError):
    """Some owed notifications could not be routed (a team the routing file does not know, no
    default team): they stay owed, the others went ahead, and the tick step reports it."""


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
        dispatcher = Dispatcher(DeliveryQueue(db), build_notifiers(cfg))
        return cls(db, dispatcher, load_routing_config(cfg.routing_file), public_url.rstrip("/"))

    @property
    def queue(self) -> DeliveryQueue:
        return self.dispatcher.queue

    def relay(self, now: datetime) -> int:
        """Queue the deliveries of every owed notification; returns how many were routed."""
        unrouted: list[str] = []
        with self.db.session() as s:
            owed = list(
                s.execute(
                    select(AlertNotification, Alert, Patient)
                    .join(Alert, AlertNotification.alert_id == Alert.id)
                    .join(Patient, Alert.patient_id == Patient.id)
                    .where(AlertNotification.enqueued_at.is_(None))
                    .order_by(AlertNotification.created_at)
                    .limit(BATCH)
                    # Only the owed rows are locked: taking the alerts too would need rights on
                    # them that relaying does not (and would wait on a clinician's update).
                    .with_for_update(of=AlertNotification, skip_locked=True)
                )
            )
            for row, alert, patient in owed:
                try:
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
                    self.dispatcher.route_into(s, notification, self.routing, now)
                except (RoutingError, InvalidNotification) as e:
                    # Never the patient: the notification and alert ids, and the routing's reason.
                    log.error(
                        "notification %s of alert %d cannot be routed and stays owed: %s", row.id, alert.id, e
                    )
                    unrouted.append(row.id)
                    continue
                row.enqueued_at = now
        if unrouted:
            raise UnroutedNotifications(
                f"{len(unrouted)} notification(s) could not be routed and stay owed "
                f"(first {unrouted[0]}); fix the routing file, they are routed at the next tick"
            )
        return len(owed) - len(unrouted)

    def dispatch(self, now: datetime) -> DispatchResult:
        return self.dispatcher.run_once(now)
