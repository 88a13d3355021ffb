"""The hub's side of the broker: one TLS MQTT v5 session, and the outbox publisher on top."""
