"""Real Mosquitto and InfluxDB started as ordinary processes under a state directory.

Used by ``carewatch demo`` and by the test fixtures, so the demo and the tests run the
very same broker and database configuration. Production uses deploy/ (systemd units).
"""
