"""Routing by team, on-call hours (Europe/London, through both clock changes) and severity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alerts.notify.config import load_routing_config, parse_routing_config
from alerts.notify.message import Event
from alerts.notify.routing import ChannelKind, RoutingConfig, RoutingError, UnknownTeam, route
from alerts.severity import Severity
from tests.notify.helpers import CONFIG_YAML, notification


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    return parse_routing_config(CONFIG_YAML)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def targets(config: RoutingConfig, at: datetime, **overrides: Any) -> set[tuple[str, ChannelKind, str]]:
    return {(d.team, d.channel, d.target) for d in route(notification(**overrides), config, at)}


IN_HOURS_RED = {
    ("north", ChannelKind.EMAIL, "north-dn@nhs.example"),
    ("north", ChannelKind.NOTIFY_SMS, "07700 900123"),
    ("north", ChannelKind.WEBHOOK, "https://rota.north.example/hooks/carewatch"),
}
OUT_OF_HOURS_RED = {
    ("north", ChannelKind.WEBHOOK, "https://rota.north.example/hooks/carewatch"),
    ("ooh", ChannelKind.NOTIFY_SMS, "+447700900456"),
    ("ooh", ChannelKind.EMAIL, "ooh@nhs.example"),
}


def test_in_hours_red_goes_to_the_team(config: RoutingConfig) -> None:
    assert targets(config, utc(2025, 3, 31, 9, 0)) == IN_HOURS_RED  # Monday 10:00 BST


def test_out_of_hours_red_goes_to_the_out_of_hours_team(config: RoutingConfig) -> None:
    assert targets(config, utc(2025, 3, 31, 17, 45)) == OUT_OF_HOURS_RED  # Monday 18:45 BST


def test_unquoted_yaml_time_means_what_it_says(config: RoutingConfig) -> None:
    assert targets(config, utc(2025, 3, 31, 17, 29)) == IN_HOURS_RED  # 18:29 BST
    assert targets(config, utc(2025, 3, 31, 17, 30)) == OUT_OF_HOURS_RED  # 18:30 BST


def test_severity_and_event_filters(config: RoutingConfig) -> None:
    in_hours, night = utc(2025, 3, 31, 9, 0), utc(2025, 3, 31, 22, 0)
    assert targets(config, in_hours, severity=Severity.AMBER) == {
        ("north", ChannelKind.EMAIL, "north-dn@nhs.example"),
        ("north", ChannelKind.WEBHOOK, "https://rota.north.example/hooks/carewatch"),
    }
    # Amber at night waits for the dashboard, except on channels that asked for "always".
    assert targets(config, night, severity=Severity.AMBER) == {
        ("north", ChannelKind.WEBHOOK, "https://rota.north.example/hooks/carewatch"),
    }
    assert targets(config, night, severity=Severity.AMBER, event=Event.REMINDER) == set()
    assert ("north", ChannelKind.WEBHOOK, "https://rota.north.example/hooks/carewatch") not in targets(
        config, in_hours, event=Event.RESOLVED
    )


@pytest.mark.parametrize(
    ("at", "in_hours"),
    [
        (utc(2025, 4, 5, 8, 30), True),  # Saturday 09:30 BST
        (utc(2025, 4, 5, 12, 0), False),  # Saturday 13:00 BST: window end is exclusive
        (utc(2025, 4, 5, 7, 30), False),  # Saturday 08:30 BST: weekday hours do not apply
        (utc(2025, 4, 6, 10, 0), False),  # Sunday
        (utc(2025, 12, 25, 10, 0), False),  # Thursday, but Christmas Day
        (utc(2025, 12, 24, 10, 0), True),
        # Spring forward (30 Mar 2025): 07:30 UTC is 07:30 GMT on Friday, 08:30 BST on Monday.
        (utc(2025, 3, 28, 7, 30), False),
        (utc(2025, 3, 31, 7, 30), True),
        # Fall back (26 Oct 2025): 17:45 UTC is 18:45 BST on Friday, 17:45 GMT on Monday.
        (utc(2025, 10, 24, 17, 45), False),
        (utc(2025, 10, 27, 17, 45), True),
        (utc(2025, 10, 27, 7, 30), False),  # 07:30 GMT
    ],
)
def test_on_call_hours(config: RoutingConfig, at: datetime, in_hours: bool) -> None:
    assert targets(config, at) == (IN_HOURS_RED if in_hours else OUT_OF_HOURS_RED)
    assert config.in_hours(config.teams["north"], at) is in_hours


@pytest.mark.parametrize(
    ("at", "in_hours"),
    [
        (utc(2025, 3, 30, 7, 30), True),  # the spring-forward Sunday: 08:30 BST
        (utc(2025, 10, 26, 7, 30), False),  # the fall-back Sunday: 07:30 GMT (08:30 had it stayed BST)
        (utc(2025, 10, 26, 8, 30), True),
        (utc(2025, 4, 4, 20, 59), False),  # Friday 21:59 BST
        (utc(2025, 4, 4, 21, 0), True),  # Friday 22:00 BST
        (utc(2025, 4, 5, 4, 59), True),  # Saturday 05:59 BST: overnight window from Friday
        (utc(2025, 4, 5, 5, 0), False),
    ],
)
def test_windows_on_clock_change_days_and_past_midnight(
    config: RoutingConfig, at: datetime, in_hours: bool
) -> None:
    assert config.in_hours(config.teams["night"], at) is in_hours


def test_unknown_team_uses_the_default_or_is_an_error(config: RoutingConfig) -> None:
    with pytest.raises(UnknownTeam):
        route(notification(team="south"), config, utc(2025, 3, 31, 9, 0))
    with_default = config.model_copy(update={"default_team": "ooh"})
    deliveries = route(notification(team="south"), with_default, utc(2025, 3, 31, 9, 0))
    assert {d.team for d in deliveries} == {"ooh"}
    with pytest.raises(RoutingError):
        route(notification(), config, datetime(2025, 3, 31, 9, 0))  # naive


def test_same_target_twice_is_one_delivery_with_a_stable_id() -> None:
    data = yaml.safe_load(CONFIG_YAML)
    data["teams"]["ooh"]["channels"].append(
        {"kind": "webhook", "url": "https://rota.north.example/hooks/carewatch", "secret_id": "north-rota"}
    )
    cfg = RoutingConfig.model_validate(data)
    deliveries = route(notification(), cfg, utc(2025, 3, 31, 22, 0))
    assert len(deliveries) == 3
    again = route(notification(), cfg, utc(2025, 3, 31, 22, 0))
    assert [d.delivery_id for d in deliveries] == [d.delivery_id for d in again]
    assert len({d.delivery_id for d in deliveries}) == 3


def _broken(mutate: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG_YAML)
    mutate(data)
    return data


def _no_night_route(d: dict[str, Any]) -> None:
    d["teams"]["north"].pop("out_of_hours_team")
    d["teams"]["north"]["channels"][2]["when"] = "in_hours"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(_no_night_route, "reach nobody", id="no-out-of-hours-route"),
        pytest.param(
            lambda d: d["teams"]["north"].pop("out_of_hours_team"), None, id="always-webhook-suffices"
        ),
        pytest.param(
            lambda d: d["teams"]["north"].update(out_of_hours_team="nowhere"), "another", id="ooh-unknown"
        ),
        pytest.param(
            lambda d: d["teams"]["north"].update(out_of_hours_team="night"), "24/7", id="ooh-not-24-7"
        ),
        pytest.param(
            lambda d: d["teams"]["ooh"]["channels"][0].update(events=["resolved"]), None, id="ooh-email-left"
        ),
        pytest.param(
            lambda d: d["teams"]["night"]["channels"][0].update(min_severity="none"),
            "amber or red",
            id="sev-none",
        ),
        pytest.param(
            lambda d: d["teams"]["north"]["channels"][0].update(to=["nobody"]), "e-mail", id="bad-address"
        ),
        pytest.param(lambda d: d["teams"]["ooh"]["channels"][0].update(to=["999"]), "phone", id="bad-phone"),
        pytest.param(
            lambda d: d["teams"]["north"]["channels"][2].update(url="http://rota.example/h"),
            "https",
            id="http-hook",
        ),
        pytest.param(
            lambda d: d["teams"]["north"]["channels"][0].update(cc=["x@y.example"]),
            "Extra inputs",
            id="typo-key",
        ),
        pytest.param(lambda d: d.update(timezone="Europe/Londres"), "timezone", id="bad-timezone"),
        pytest.param(lambda d: d.update(default_team="south"), "default_team", id="bad-default"),
    ],
)
def test_configs_that_could_lose_or_leak_alerts_are_rejected(mutate: Any, message: str | None) -> None:
    data = _broken(mutate)
    if message is None:
        RoutingConfig.model_validate(data)
        return
    with pytest.raises(ValidationError, match=message):
        RoutingConfig.model_validate(data)


def test_a_team_with_no_red_channel_is_rejected() -> None:
    data = _broken(
        lambda d: [c.update(min_severity="red", events=["resolved"]) for c in d["teams"]["ooh"]["channels"]]
    )
    with pytest.raises(ValidationError, match="in hours"):
        RoutingConfig.model_validate(data)


def test_json_and_yaml_files_load_the_same(tmp_path: Path, config: RoutingConfig) -> None:
    as_json = tmp_path / "routing.json"
    as_json.write_text(config.model_dump_json(), encoding="utf-8")
    as_yaml = tmp_path / "routing.yaml"
    as_yaml.write_text(CONFIG_YAML, encoding="utf-8")
    assert load_routing_config(as_json) == load_routing_config(as_yaml) == config
    assert json.loads(as_json.read_text())["teams"]["north"]["channels"][1]["min_severity"] == "red"
