"""Enrolling a hub: the bundle the server issues (``bundle``, pure) and what the hub does
with it (``install``: its configuration files, then a check that the broker takes it)."""
