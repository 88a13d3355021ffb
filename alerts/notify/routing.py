"""Who hears about an alert, and how: teams, their channels, their on-call hours.

Pure (no I/O): ``route()`` is a function of the notification, the configuration and the
instant, so every routing question ("a red alert on Saturday night during the October
clock change?") is a unit test rather than an incident.

Rules:

* In hours (inside one of the team's ``on_call`` windows, local time in ``timezone``, and
  not a ``closed_dates`` day), the team's ``in_hours`` and ``always`` channels are used.
  A team without ``on_call`` windows is 24/7.
* Out of hours, the team's ``out_of_hours`` and ``always`` channels are used, and alerts
  at or above ``out_of_hours_min_severity`` (red by default) also go to the team's
  ``out_of_hours_team`` (which must be 24/7). Amber alerts out of hours wait for the team's
  dashboard: "review today" does not justify waking anyone.
* Every channel has its own ``min_severity`` and optional ``events`` filter.

Validation guarantees that a red alert always reaches somebody, at any time: a config
where it would not is rejected at load time, not discovered at 3 a.m.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, PlainSerializer, model_validator

from alerts.notify.message import Event, Notification
from alerts.severity import Severity

_DELIVERY_NAMESPACE = uuid.UUID("4f6b2a4e-0d7c-4c55-9a53-1f0f6f0e2a11")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class RoutingError(ValueError):
    """A notification that cannot be routed: it must be surfaced, never dropped."""


class UnknownTeam(RoutingError):
    pass


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    NOTIFY_SMS = "notify_sms"
    NOTIFY_EMAIL = "notify_email"


class When(StrEnum):
    IN_HOURS = "in_hours"
    OUT_OF_HOURS = "out_of_hours"
    ALWAYS = "always"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)


def _severity(value: Any) -> Severity:
    severity = Severity.from_label(value) if isinstance(value, str) else Severity(value)
    if severity is Severity.NONE:
        raise ValueError("a severity filter is amber or red")
    return severity


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 18:30 as the base-60 integer 1110; accept it as meant.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


SeverityLabel = Annotated[
    Severity, BeforeValidator(_severity), PlainSerializer(lambda s: s.label, return_type=str)
]
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OnCallWindow(_Model):
    """``end`` at or before ``start`` means the window runs past midnight into the next day."""

    days: frozenset[Weekday]
    start: ClockTime
    end: ClockTime

    def covers(self, local: datetime) -> bool:
        t, today = local.time().replace(tzinfo=None), local.weekday()
        if self.start < self.end:
            return today in self._indices and self.start <= t < self.end
        yesterday = (today - 1) % 7
        return (today in self._indices and t >= self.start) or (yesterday in self._indices and t < self.end)

    @property
    def _indices(self) -> set[int]:
        return {d.number for d in self.days}


class _ChannelBase(_Model):
    min_severity: SeverityLabel = Severity.AMBER
    when: When = When.IN_HOURS
    events: frozenset[Event] | None = None  # None: every event

    def accepts(self, n: Notification) -> bool:
        return n.severity >= self.min_severity and (self.events is None or n.event in self.events)

    def targets(self) -> list[tuple[ChannelKind, str, str | None]]:
        raise NotImplementedError


def _addresses(values: list[str]) -> list[str]:
    for v in values:
        local, at, domain = v.partition("@")
        if not (local and at and "." in domain) or any(c.isspace() for c in v):
            raise ValueError(f"not an e-mail address: {v!r}")
    return values


def _phones(values: list[str]) -> list[str]:
    for v in values:
        digits = v.replace(" ", "").removeprefix("+")
        if not (digits.isdigit() and 10 <= len(digits) <= 15):
            raise ValueError(f"not a phone number: {v!r}")
    return values


Targets = Annotated[list[Annotated[str, Field(min_length=3)]], Field(min_length=1)]


class EmailChannel(_ChannelBase):
    kind: Literal["email"]
    to: Targets

    @model_validator(mode="after")
    def _check(self) -> Self:
        _addresses(self.to)
        return self

    def targets(self) -> list[tuple[ChannelKind, str, str | None]]:
        return [(ChannelKind.EMAIL, a, None) for a in self.to]


class WebhookChannel(_ChannelBase):
    kind: Literal["webhook"]
    url: HttpUrl
    secret_id: str = Field(min_length=1)  # the name of a secret held by the server, never the secret

    @model_validator(mode="after")
    def _https(self) -> Self:
        if self.url.scheme != "https" and self.url.host not in _LOOPBACK_HOSTS:
            raise ValueError("webhook URLs must be https (plain http only on loopback)")
        return self

    def targets(self) -> list[tuple[ChannelKind, str, str | None]]:
        return [(ChannelKind.WEBHOOK, str(self.url), self.secret_id)]


class NotifySmsChannel(_ChannelBase):
    kind: Literal["notify_sms"]
    to: Targets

    @model_validator(mode="after")
    def _check(self) -> Self:
        _phones(self.to)
        return self

    def targets(self) -> list[tuple[ChannelKind, str, str | None]]:
        return [(ChannelKind.NOTIFY_SMS, p, None) for p in self.to]


class NotifyEmailChannel(_ChannelBase):
    kind: Literal["notify_email"]
    to: Targets

    @model_validator(mode="after")
    def _check(self) -> Self:
        _addresses(self.to)
        return self

    def targets(self) -> list[tuple[ChannelKind, str, str | None]]:
        return [(ChannelKind.NOTIFY_EMAIL, a, None) for a in self.to]


ChannelConfig = Annotated[
    EmailChannel | WebhookChannel | NotifySmsChannel | NotifyEmailChannel, Field(discriminator="kind")
]


class Team(_Model):
    name: str = ""
    on_call: tuple[OnCallWindow, ...] = ()  # empty: 24/7
    out_of_hours_team: str | None = None
    channels: tuple[ChannelConfig, ...] = Field(min_length=1)

    @property
    def always_on(self) -> bool:
        return not self.on_call


class RoutingConfig(_Model):
    timezone: str = "Europe/London"
    closed_dates: frozenset[date] = frozenset()  # bank holidays: out of hours all day
    out_of_hours_min_severity: SeverityLabel = Severity.RED
    default_team: str | None = None  # for notifications naming a team not configured here
    teams: dict[str, Team] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_red_alert_reaches_someone(self) -> Self:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {self.timezone!r}") from e
        if self.default_team is not None and self.default_team not in self.teams:
            raise ValueError(f"default_team {self.default_team!r} is not a configured team")
        for team_id, team in self.teams.items():
            if not _reaches(team, {When.IN_HOURS, When.ALWAYS}):
                raise ValueError(f"team {team_id!r}: no channel takes a red 'opened' alert in hours")
            if team.out_of_hours_team is not None:
                ooh = self.teams.get(team.out_of_hours_team)
                if ooh is None or team.out_of_hours_team == team_id:
                    raise ValueError(f"team {team_id!r}: out_of_hours_team must be another configured team")
                if not ooh.always_on:
                    raise ValueError(
                        f"team {team_id!r}: out_of_hours_team {team.out_of_hours_team!r} must be 24/7"
                    )
            elif not team.always_on and not _reaches(team, {When.OUT_OF_HOURS, When.ALWAYS}):
                raise ValueError(
                    f"team {team_id!r}: red alerts out of hours would reach nobody; "
                    "set out_of_hours_team or an out_of_hours/always channel"
                )
        return self

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def in_hours(self, team: Team, at: datetime) -> bool:
        if team.always_on:
            return True
        local = at.astimezone(self.zone())
        if local.date() in self.closed_dates:
            return False
        return any(w.covers(local) for w in team.on_call)


def _reaches(team: Team, when: set[When]) -> bool:
    """Whether some channel of ``team`` takes a red 'opened' alert at these times."""
    return any(
        c.when in when and c.min_severity <= Severity.RED and (c.events is None or Event.OPENED in c.events)
        for c in team.channels
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one target over one channel: the unit that is queued and retried."""

    notification: Notification
    channel: ChannelKind
    target: str
    team: str  # whose channel this is (the out-of-hours team for a redirected alert)
    secret_id: str | None = None

    @property
    def delivery_id(self) -> str:
        """Deterministic, so enqueueing the same notification twice queues it once."""
        key = f"{self.notification.notification_id}\n{self.channel.value}\n{self.target}"
        return str(uuid.uuid5(_DELIVERY_NAMESPACE, key))


def route(notification: Notification, config: RoutingConfig, at: datetime) -> list[Delivery]:
    """An empty list is a decision (an amber alert at night), never a failure."""
    if at.tzinfo is None:
        raise RoutingError("route() needs a timezone-aware instant")
    team_id = notification.team if notification.team in config.teams else config.default_team
    if team_id is None:
        raise UnknownTeam(f"no routing for team {notification.team!r} and no default_team")
    team = config.teams[team_id]
    in_hours = config.in_hours(team, at)
    picked = _channels(team_id, team, in_hours, notification)
    if not in_hours and team.out_of_hours_team and notification.severity >= config.out_of_hours_min_severity:
        ooh = config.teams[team.out_of_hours_team]
        picked += _channels(team.out_of_hours_team, ooh, config.in_hours(ooh, at), notification)
    seen: set[tuple[ChannelKind, str]] = set()
    deliveries: list[Delivery] = []
    for owner, kind, target, secret_id in picked:
        if (kind, target) not in seen:
            seen.add((kind, target))
            deliveries.append(Delivery(notification, kind, target, owner, secret_id))
    return deliveries


def _channels(
    team_id: str, team: Team, in_hours: bool, n: Notification
) -> list[tuple[str, ChannelKind, str, str | None]]:
    wanted = {When.ALWAYS, When.IN_HOURS if in_hours else When.OUT_OF_HOURS}
    return [
        (team_id, kind, target, secret_id)
        for channel in team.channels
        if channel.when in wanted and channel.accepts(n)
        for kind, target, secret_id in channel.targets()
    ]
