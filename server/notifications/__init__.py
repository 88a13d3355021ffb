"""Telling the team: owed notifications routed into one durable queue in the server's
database, and sent from it by the ticker.

* :mod:`~server.notifications.relay`: the alert change's ``alert_notifications`` rows into
  queued deliveries, in one transaction;
* :mod:`~server.notifications.queue`: the ``notification_deliveries`` table as a queue (claim
  with a lease, record the outcome, retry with backoff, give up visibly, requeue, stats);
* :mod:`~server.notifications.dispatch`: routing into the queue, and sending what is due;
* :mod:`~server.notifications.notifiers`: the notifiers the settings configure;
* :mod:`~server.notifications.legacy_outbox`: carrying deliveries over from the SQLite file
  the ticker used to keep before 0011.

What is said and to whom stays pure, in :mod:`alerts.notify`; only the queue and its
plumbing live here, since the rules side may not import the server.
"""
