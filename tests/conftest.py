"""Shared fixtures. Real services (Mosquitto, InfluxDB) are started once per session on
free loopback ports under a temporary state directory and stopped by PID at the end."""

import pytest

pytest_plugins = [
    "tests.fixtures.influx",
    "tests.fixtures.broker",
    "tests.fixtures.server",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
    "tests.faults.disk_full",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``run_last`` go to the end of the session (they collect the result of a
    long scenario that ran in the background meanwhile)."""
    last = [item for item in items if item.get_closest_marker("run_last")]
    items[:] = [item for item in items if not item.get_closest_marker("run_last")] + last


@pytest.fixture(scope="session", autouse=True)
def _start_long_scenarios_early(request: pytest.FixtureRequest) -> None:
    """Start, at the first test, the fixtures named by ``starts_early`` markers of the tests
    selected, so a ten-minute fault runs beside the rest of the suite, not after it."""
    for item in request.session.items:
        marker = item.get_closest_marker("starts_early")
        if marker is not None:
            request.getfixturevalue(marker.args[0])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's counts, one row per scenario: every reading a hub took, by id."""
    from tests.faults.harness import HEADER, RESULTS

    if not RESULTS:
        return
    terminalreporter.section("no reading lost: the fault suite's counts")
    terminalreporter.write_line(HEADER)
    for counts in RESULTS:
        terminalreporter.write_line(counts.row())
        for note in counts.notes:
            terminalreporter.write_line(f"    {note}")
