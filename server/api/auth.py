"""Bearer-token authentication and role checks.

Tokens are random and shown once at creation; only their SHA-256 is stored, so a copy of
the database does not let anyone in. Roles: ``clinician`` reads patients, readings and
alerts; ``technician`` provisions hubs and devices; ``admin`` does both and manages users.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, select

from server.store.database import Database
from server.store.models import AuditEvent, User
from server.teams import join_teams


class Role(StrEnum):
    CLINICIAN = "clinician"
    TECHNICIAN = "technician"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role

    def may_act_as(self, *roles: Role) -> bool:
        """Whether this user may do what ``roles`` may: admin is always admitted. The API's
        ``require`` and the pages both ask here, so the two cannot disagree."""
        return self.role is Role.ADMIN or self.role in roles


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token: 256 random bits, recognisable by its ``cw_`` prefix."""
    return "cw_" + secrets.token_urlsafe(32)


def create_user(db: Database, username: str, role: Role, teams: Iterable[str] = ()) -> str:
    """Create a user in ``teams`` and return its token (the only time it is ever visible).
    A clinician sees only their teams' patients (``server.access``). Disabling, enabling,
    token rotation and team changes are in ``server.users`` and ``server.teams``."""
    token = new_token()
    with db.session() as s:
        if s.scalars(select(User).where(User.username == username)).first() is not None:
            raise ValueError(f"user {username!r} already exists")
        s.add(User(username=username, role=role.value, token_hash=hash_token(token)))
        s.flush()
        joined = join_teams(s, username, teams)
        detail = role.value + (f" teams={','.join(joined)}" if joined else "")
        s.add(AuditEvent(actor="system:cli", action="user_created", target=username, detail=detail))
    return token


_bearer = HTTPBearer(auto_error=False)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def current_principal(
    db: Annotated[Database, Depends(get_db)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or invalid bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    principal = principal_for_token(db, creds.credentials) if creds is not None else None
    if principal is None:
        raise unauthorized
    return principal


def principal_for_token(db: Database, token: str) -> Principal | None:
    """The enabled user holding ``token``, or None; the API's bearer header and the pages'
    session cookie both end here."""
    with db.session() as s:
        return principal_of(s.scalars(select(User).where(User.token_hash == hash_token(token))).first())


def principal_of(user: User | None) -> Principal | None:
    """Who ``user`` acts as, or None for no user or a disabled one."""
    if user is None or user.disabled:
        return None
    return Principal(user.username, Role(user.role))


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only the given roles (admin is always admitted)."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may_act_as(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
        return principal

    return check


def audit(db: Database, principal: Principal, action: str, target: str, detail: str = "") -> None:
    """One access or change, recorded in its own transaction so that the record survives
    whatever the request does next."""
    with db.session() as s:
        s.add(AuditEvent(actor=principal.username, action=action, target=target, detail=detail))


def patients_shown(patient_ids: Iterable[str]) -> str:
    """The patients a list view showed, for its audit detail: a caseload or work list shows
    each patient's data, so each patient's audit trail must find the view. Comma-fenced
    (patient ids hold no comma) so that one id never matches inside another."""
    ids = sorted(set(patient_ids))
    return f" patients=,{','.join(ids)}," if ids else ""


def shown_in_list(patient_id: str) -> ColumnElement[bool]:
    """Audit rows of list views (see :func:`patients_shown`) that showed this patient."""
    return AuditEvent.detail.like(f"% patients=%,{patient_id},%")
