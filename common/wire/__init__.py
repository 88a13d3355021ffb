"""The wire contract between hub and server, defined once and imported by both.

Everything that crosses the broker — topic names, reading kinds, canonical units and the
JSON message schema — lives in this package so that a hub and a server built from the same
release can never disagree about it.
"""
