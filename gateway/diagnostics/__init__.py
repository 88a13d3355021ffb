"""The hub's self-checks: what ``carewatch hub doctor`` prints and what the telemetry carries.

One module a check (or a family of checks that share one connection): ``bluetooth`` (the
system D-Bus, bluetoothd, the adapter and rfkill), ``scanning`` (whether anything listens for
the devices: the running hub's own account, or the adapter's), ``clock``, ``disk``,
``speech`` (espeak-ng and a sound card, for spoken feedback), ``certificates``, ``broker``
(TLS reachability and the hub's credentials, over one real connection). Each
returns ``common.wire.messages.HubCheck`` records: ok / warning / failed / skipped, with one
plain sentence of what to do, because the person reading them is a technician in a
patient's home, not a developer. ``doctor`` runs them in order and renders the answer.
"""
