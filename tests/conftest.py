"""Shared fixtures. Real services (Mosquitto, InfluxDB) are started once per session on
free loopback ports under a temporary state directory and stopped by PID at the end."""

pytest_plugins = [
    "tests.fixtures.influx",
    "tests.fixtures.broker",
    "tests.fixtures.server",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
]
