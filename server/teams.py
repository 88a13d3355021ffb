"""Teams and who belongs to them: the ownership behind what a clinician may see.

A team exists once a patient is enrolled in it or a user is put in it; team names are short
words the trust chooses (``north``, ``virtual-ward``). Memberships change only here, and
every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.store.database import Database
from server.store.models import AuditEvent, Team, TeamMember, User

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_TEAM = re.compile(TEAM_PATTERN)


class InvalidTeam(ValueError):
    """A team name that is not a short lower-case word (letters, digits, ``-``, ``_``)."""


def check_team(name: str) -> str:
    if not _TEAM.fullmatch(name):
        raise InvalidTeam(f"team must be lower-case letters, digits, '-' or '_' (at most 64): {name!r}")
    return name


def ensure_team(s: Session, name: str) -> str:
    """The team, created if it is new (the caller's transaction commits it)."""
    check_team(name)
    if s.get(Team, name) is None:
        s.add(Team(name=name))
        s.flush()
    return name


def all_teams(s: Session) -> list[str]:
    return list(s.scalars(select(Team.name).order_by(Team.name)))


def join_teams(s: Session, username: str, teams: Iterable[str]) -> list[str]:
    """Make ``username`` a member of exactly ``teams`` (in the caller's transaction)."""
    wanted = sorted({ensure_team(s, t) for t in teams})
    s.execute(delete(TeamMember).where(TeamMember.username == username))
    s.add_all(TeamMember(username=username, team=t) for t in wanted)
    return wanted


def set_teams(db: Database, username: str, teams: Iterable[str], *, actor: str) -> list[str]:
    """Give a user exactly these teams, audited with what they had before."""
    with db.session() as s:
        if s.scalars(select(User).where(User.username == username)).first() is None:
            raise LookupError(f"no user {username!r}")
        before = sorted(s.scalars(select(TeamMember.team).where(TeamMember.username == username)))
        wanted = join_teams(s, username, teams)
        s.add(
            AuditEvent(
                actor=actor,
                action="user_teams_changed",
                target=username,
                detail=f"from {','.join(before) or '-'} to {','.join(wanted) or '-'}",
            )
        )
    return wanted


def memberships(db: Database) -> dict[str, list[str]]:
    """Every user's teams, by user name."""
    with db.session() as s:
        out: dict[str, list[str]] = {}
        for username, team in s.execute(
            select(TeamMember.username, TeamMember.team).order_by(TeamMember.team)
        ):
            out.setdefault(username, []).append(team)
        return out
