"""``carewatch server user …``: users of the API and pages."""

from __future__ import annotations

from typing import Annotated

import typer

from server.cli import common

user_app = typer.Typer(help="Users of the API and pages.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="clinician, technician or admin")] = "clinician",
    team: Annotated[
        list[str] | None, typer.Option(help="a team whose patients a clinician sees; repeat for several")
    ] = None,
) -> None:
    """Create a user and print its API token (shown only now)."""
    from server.api.auth import Role, create_user

    try:
        token = create_user(common.db(), username, Role(role), teams=team or [])
    except ValueError as e:
        raise common.fail(str(e)) from None
    typer.echo(token)


@user_app.command("list")
def user_list() -> None:
    """Every user: name, role, enabled or disabled (never a token)."""
    from server.users import list_users

    users = list_users(common.db())
    if not users:
        typer.echo("no users; add one with: carewatch server user add NAME --role clinician")
        return
    for u in users:
        typer.echo(f"{u.username:<24} {u.role.value:<11} {'enabled' if u.enabled else 'disabled'}")


def _set_enabled(username: str, enabled: bool) -> None:
    from server.users import UnknownUser, set_enabled

    try:
        changed = set_enabled(common.db(), username, enabled, actor=common.ACTOR)
    except UnknownUser as e:
        raise common.fail(str(e)) from None
    state = "enabled" if enabled else "disabled"
    if not changed:
        typer.echo(f"user {username} was already {state}")
    elif enabled:
        typer.echo(f"user {username} enabled; they sign in to the pages again with their token")
    else:
        typer.echo(f"user {username} disabled: their token is refused and their page sessions have ended")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Refuse the user's token from now on and end their page sessions at once."""
    _set_enabled(username, False)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Let a disabled user's token in again (their old page sessions stay ended)."""
    _set_enabled(username, True)


@user_app.command("rotate-token")
def user_rotate_token(username: str) -> None:
    """Give the user a new API token and print it (shown only now); the old token and every
    page session opened with it stop working at once."""
    from server.users import UnknownUser, rotate_token

    try:
        token = rotate_token(common.db(), username, actor=common.ACTOR)
    except UnknownUser as e:
        raise common.fail(str(e)) from None
    typer.echo(token)


@user_app.command("teams")
def user_teams(
    username: str,
    team: Annotated[
        list[str] | None, typer.Option(help="a team the user belongs to; repeat for several")
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="take the user out of every team")] = False,
) -> None:
    """Show a user's teams, or set them (a clinician sees only their teams' patients)."""
    from server.teams import InvalidTeam, memberships, set_teams

    db = common.db()
    if not team and not none:
        typer.echo(", ".join(memberships(db).get(username, [])) or "(no team: sees no patients)")
        return
    try:
        teams = set_teams(db, username, team or [], actor=common.ACTOR)
    except (LookupError, InvalidTeam) as e:
        raise common.fail(str(e)) from None
    typer.echo(f"user {username}: " + (", ".join(teams) or "no team"))
