"""Getting alerts to community teams, and never losing one on the way.

The package is split so the parts that decide *what* is said and *to whom* stay pure
(``message``, ``routing``: no I/O, testable exhaustively, safe to run anywhere), while the
parts that talk to the world are thin shells (``email``, ``webhook``, ``govuk_notify``)
behind one durable queue (``outbox``). Nothing is imported here on purpose: importing
``alerts.notify.message`` must not drag in sqlite3, httpx or smtplib.

Typical use by the server::

    notification = Notification.create(alert_id=..., patient_initials=initials_of(name),
                                       severity=..., team=..., link=..., event=Event.OPENED, at=now)
    dispatcher.notify(notification, routing_config, at=now)   # route + enqueue, durable
    dispatcher.run_once(now)                                  # on every tick
    outbox.stats(now), outbox.list_failed()                   # health page
"""
