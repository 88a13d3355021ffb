"""The developer's stack: real Mosquitto, InfluxDB and the demo, started as ordinary
processes under a state directory, for ``./dev demo`` and the test fixtures, so the demo and
the tests run the very same broker and database configuration. Not part of the installed
product (the wheel leaves it out): production uses deploy/ (systemd units, compose)."""
