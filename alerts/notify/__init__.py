"""Getting alerts to community teams, and never losing one on the way.

The package is split so the parts that decide *what* is said and *to whom* stay pure
(``message``, ``routing``: no I/O, testable exhaustively, safe to run anywhere), while the
notifiers that talk to the world are thin shells (``email``, ``webhook``, ``govuk_notify``)
behind one contract (``notifier``). Nothing is imported here on purpose: importing
``alerts.notify.message`` must not drag in httpx or smtplib.

The durable queue the notifiers are driven from is the server's (``server.notifications``),
in its database, beside the alerts whose changes owe the notifications::

    notification = Notification.create(alert_id=..., patient_initials=initials_of(name),
                                       severity=..., team=..., link=..., event=Event.OPENED, at=now)
    deliveries = route(notification, routing_config, at=now)   # who, over which channels
    notifier.send(Attempt(delivery, number=1))                 # a receipt, or DeliveryFailed
"""
