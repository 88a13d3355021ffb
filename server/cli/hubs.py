"""``carewatch server hub …``: register hubs, assign them to patients, give them their broker identity, configure them from the office."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from server.cli import common

if TYPE_CHECKING:
    from common.mqtt import BrokerEndpoint
    from server.hub_lifecycle import Issued
    from server.store.database import Database

T = TypeVar("T")

hub_app = typer.Typer(
    help="Hubs: register, assign to a patient, give them their broker identity, configure them from the office.",
    no_args_is_help=True,
)


@hub_app.command("add")
def hub_add(
    hub_id: Annotated[str, typer.Argument(help="hub id = its MQTT user name, e.g. hub-0042")],
    patient: Annotated[str | None, typer.Option(help="assign to this patient from now")] = None,
    password_out: Annotated[
        Path | None,
        typer.Option(help="write the hub's MQTT password to this file (mode 0600) instead of printing it"),
    ] = None,
) -> None:
    """Register a hub, optionally assign it, and give it its broker identity (live: no reload).

    All or nothing: if the broker cannot issue the identity, nothing is registered. The hub may
    then connect with its id as user name and client id, and the password shown once here (or
    written to --password-out), and only publish and hear its own topics. For a hub in the
    field, `carewatch server hub bundle` is easier than copying a password."""
    from server import hub_lifecycle

    issued = _act(lambda db, ep: hub_lifecycle.add(db, ep, hub_id, actor=common.ACTOR, patient_id=patient))
    typer.echo(f"hub {hub_id} registered" + (f" and assigned to {patient}" if patient else ""))
    _hand_over(issued, password_out)


def _act(action: Callable[[Database, BrokerEndpoint], T]) -> T:
    """Run a lifecycle action against the database and the broker the settings name; a
    refusal or an unreachable broker is a plain error, and nothing was changed."""
    from server.hub_lifecycle import BrokerAdminError, IdentityRefused
    from server.provisioning import ProvisioningError
    from server.settings import ServerSettings

    try:
        endpoint = ServerSettings().mqtt.endpoint()
    except OSError as e:  # the server's MQTT password file
        raise common.fail(f"cannot read the server's broker credentials: {e}") from None
    try:
        return action(common.db(), endpoint)
    except (ProvisioningError, IdentityRefused) as e:
        raise common.fail(str(e)) from None
    except BrokerAdminError as e:
        raise common.fail(f"{e}\nnothing was changed; try again when the broker is reachable") from None


def _hand_over(issued: Issued, password_out: Path | None) -> None:
    import os

    if password_out is not None:
        fd = os.open(password_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(issued.password + "\n")
        typer.echo(f"MQTT password written to {password_out}: copy it to the hub's password_file")
    else:
        typer.echo("MQTT password (write it to the hub's password_file; shown only now):")
        typer.echo(issued.password)
    typer.echo("the broker accepts it now; no reload needed")


PasswordOut = Annotated[
    Path | None,
    typer.Option(help="write the new MQTT password to this file (mode 0600) instead of printing it"),
]


@hub_app.command("rotate")
def hub_rotate(hub_id: str, password_out: PasswordOut = None) -> None:
    """Issue a hub a new broker password (after a loss, or routinely). The old one is refused
    at once and a connection made with it is dropped. A revoked hub is refused: `hub reinstate`."""
    from server import hub_lifecycle

    issued = _act(lambda db, ep: hub_lifecycle.rotate(db, ep, hub_id, actor=common.ACTOR))
    _hand_over(issued, password_out)


@hub_app.command("credentials")
def hub_credentials(hub_id: str, password_out: PasswordOut = None) -> None:
    """The same as `hub rotate` (kept for scripts that use this name)."""
    hub_rotate(hub_id, password_out)


@hub_app.command("revoke")
def hub_revoke(
    hub_id: str,
    reason: Annotated[str, typer.Option(help="why, for the audit trail (lost, stolen, returned)")] = "",
) -> None:
    """Stop a hub connecting (lost, stolen, returned): the broker refuses its password from
    now on and drops its connection at once; its unused claim codes and bundle stop working.
    Only `hub reinstate` lets it in again."""
    from server import hub_lifecycle

    _act(lambda db, ep: hub_lifecycle.revoke(db, ep, hub_id, actor=common.ACTOR, reason=reason))
    typer.echo(f"hub {hub_id} can no longer connect to the broker; its unused claim codes and bundle expired")


@hub_app.command("reinstate")
def hub_reinstate(
    hub_id: str,
    reason: Annotated[str, typer.Option(help="why it is let back in (found, returned to service): audited")],
    password_out: PasswordOut = None,
) -> None:
    """Let a revoked hub back in (found, back from repair) with a new broker password; the one
    it had before is never accepted again. Not for a replaced hub: its patient has another."""
    from server import hub_lifecycle

    issued = _act(lambda db, ep: hub_lifecycle.reinstate(db, ep, hub_id, actor=common.ACTOR, reason=reason))
    typer.echo(f"hub {hub_id} is reinstated with a new password (the old one stays refused)")
    _hand_over(issued, password_out)


@hub_app.command("replace")
def hub_replace(
    old_hub_id: Annotated[str, typer.Argument(help="the hub being swapped out")],
    new_hub_id: Annotated[str, typer.Argument(help="the new hardware's hub id")],
    password_out: PasswordOut = None,
) -> None:
    """New hardware for the same patient: the new hub serves them from now, with the old
    one's paired devices; the old hub is revoked and its assignment ends now. The patient's
    readings so far stay theirs."""
    from server import hub_lifecycle

    issued = _act(lambda db, ep: hub_lifecycle.replace(db, ep, old_hub_id, new_hub_id, actor=common.ACTOR))
    typer.echo(f"hub {new_hub_id} replaces {old_hub_id} from now; {old_hub_id} is revoked")
    _hand_over(issued, password_out)


@hub_app.command("bundle")
def hub_bundle(
    hub_id: str,
    out: Annotated[Path, typer.Option(help="where to write the bundle (mode 0600)")] = Path(
        "hub-bundle.json"
    ),
    expires_in: Annotated[str, typer.Option(help="how long it can be used: 7d, 12h, 30m")] = "7d",
) -> None:
    """Write a hub's enrolment bundle (hub id, broker, CA certificate, a new password, expiry,
    checksum) for `carewatch hub enrol FILE` on the hub. Re-keys the hub: a hub in service
    is disconnected until the new bundle is on it."""
    import os

    from server.hub_enrolment import issue_bundle, parse_duration
    from server.settings import ServerSettings

    try:
        life = parse_duration(expires_in)
    except ValueError as e:
        raise common.fail(str(e)) from None
    bundle = _act(
        lambda db, ep: issue_bundle(db, ServerSettings().mqtt, hub_id, actor=common.ACTOR, life=life)
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bundle.to_json())
    typer.echo(
        f"bundle for {hub_id} written to {out} (mode 0600), valid until {bundle.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    typer.echo(f"on the hub: carewatch hub enrol {out.name}")


@hub_app.command("claim-code")
def hub_claim_code(
    hub_id: str,
    expires_in: Annotated[str, typer.Option(help="how long it can be used: 24h, 7d, 30m")] = "24h",
    qr: Annotated[
        Path | None, typer.Option(help="also write a QR code of the enrol command (.svg or .png)")
    ] = None,
) -> None:
    """A short single-use code to type on the hub (`carewatch hub enrol CODE --server URL`),
    which fetches the bundle over HTTPS. Shown once; an earlier unused code stops working."""
    from server.hub_enrolment import display_code, enrol_command, issue_claim_code, parse_duration, write_qr
    from server.provisioning import ProvisioningError
    from server.settings import ServerSettings

    try:
        life = parse_duration(expires_in)
        code = issue_claim_code(common.db(), hub_id, actor=common.ACTOR, life=life)
    except (ValueError, ProvisioningError) as e:
        raise common.fail(str(e)) from None
    command = enrol_command(code, ServerSettings().public_url)
    typer.echo(f"claim code for {hub_id}: {display_code(code)} (single use, valid for {expires_in})")
    typer.echo(f"on the hub: {command}")
    if qr is not None:
        write_qr(command, qr)
        typer.echo(f"QR code of that command written to {qr}")


@hub_app.command("assign")
def hub_assign(
    hub_id: str,
    patient_id: str,
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
            help="from when (with a UTC offset, e.g. 2026-12-01T09:00:00+00:00): readings taken "
            "since then are the patient's; default now. Refused readings can then be replayed.",
        ),
    ] = None,
) -> None:
    """Give a hub to a patient from now (or from --start) on; ends its current assignment."""
    from server.provisioning import ProvisioningError, assign_hub

    if start is not None and start.utcoffset() is None:
        raise common.fail("--start needs a UTC offset, e.g. 2026-12-01T09:00:00+00:00")
    try:
        assign_hub(common.db(), hub_id, patient_id, actor=common.ACTOR, start=start)
    except ProvisioningError as e:
        raise common.fail(str(e)) from None
    _send_patient_change(hub_id)
    since = f" since {start.isoformat()}" if start else ""
    typer.echo(f"hub {hub_id} serves patient {patient_id}{since}")
    _warn_shared(hub_id, f"giving the hub to {patient_id}")


def _warn_shared(hub_id: str, why: str) -> None:
    """A hub given to a patient with a device another patient's hub also has: say so (audited)."""
    from server.device_sharing import sharing_hub, warn

    db = common.db()
    shared = warn(
        db, hub_id, [x for xs in sharing_hub(db, hub_id).values() for x in xs], actor=common.ACTOR, why=why
    )
    if shared:
        typer.echo(f"warning: {shared}", err=True)


def _send_patient_change(hub_id: str) -> None:
    """After the hub's patient changed: its configuration (the patient's spoken preferences)
    is sent; a hub whose devices were paired at the hub keeps them (the configuration leaves
    them to it)."""
    from server.hub_config import deliver_each
    from server.settings import ServerSettings
    from server.store.models import Hub

    db = common.db()
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        pending = hub is not None and hub.config_version > hub.config_delivered_version
    if not pending:
        return
    problem = deliver_each(db, ServerSettings().mqtt.endpoint, [hub_id])[hub_id]
    if problem:
        typer.echo(
            f"the hub's new configuration is kept but not delivered yet: {problem}\n"
            f"run `carewatch server hub push {hub_id}` when the broker is reachable",
            err=True,
        )


def _configure(hub_id: str, change: Callable[[Database], object] | None = None) -> None:
    """Apply ``change`` to the hub's configuration on the server (if any), then deliver the
    whole configuration; a delivery that fails keeps the change and says how to resend it."""
    from server.hub_config import HubConfigError, NotDelivered, deliver
    from server.settings import ServerSettings

    db = common.db()
    try:
        if change is not None:
            change(db)
        sent = deliver(db, ServerSettings().mqtt.endpoint(), hub_id)
    except HubConfigError as e:
        raise common.fail(str(e)) from None
    except (NotDelivered, OSError) as e:  # OSError: the server's MQTT password file
        typer.echo(
            f"saved on the server, but not delivered to the hub yet: {e}\n"
            f"run `carewatch server hub push {hub_id}` when the broker is reachable",
            err=True,
        )
        raise typer.Exit(1) from None
    devices = (
        "its devices left as paired at the hub"
        if sent.paired_devices is None
        else f"{len(sent.paired_devices)} paired device(s)"
    )
    typer.echo(
        f"configuration version {sent.version} delivered for {hub_id} "
        f"({devices}); the hub applies it when it is online"
    )


@hub_app.command("pair")
def hub_pair_remote(
    hub_id: str,
    address: Annotated[str, typer.Argument(help="the device's Bluetooth address, e.g. 00:09:1F:8A:12:34")],
    model: Annotated[str | None, typer.Option(help="catalogue model id, e.g. and-ua-651ble")] = None,
    user: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=254,
            help="on a cuff or scale shared by two people: the patient's user slot, as the device "
            "reports it (often 1 or 2). Readings from the other slot are kept for review, not "
            "given to the patient. Leave out when the device is the patient's alone.",
        ),
    ] = None,
) -> None:
    """Pair a device to a hub from the server: the hub's allowlist follows, even if the hub
    is offline now (it gets the configuration when it connects)."""
    from common.wire.addresses import InvalidAddress, normalize_address
    from server.device_sharing import sharing_device, warn
    from server.hub_config import HubConfigError, devices_managed, pair

    try:
        address = normalize_address(address)
        first = not devices_managed(common.db(), hub_id)
    except (HubConfigError, InvalidAddress) as e:
        raise common.fail(str(e)) from None
    if first:
        typer.echo(
            f"note: {hub_id}'s devices were paired at the hub until now. From this pairing on, the "
            "server's list is the hub's whole list: a device paired only at the hub stops being used. "
            f"Pair every device the patient uses here (carewatch server hub pair {hub_id} ADDRESS).",
            err=True,
        )
    db = common.db()
    shared = warn(
        db, hub_id, sharing_device(db, hub_id, address), actor=common.ACTOR, why=f"pairing {address}"
    )
    if shared:
        typer.echo(f"warning: {shared}", err=True)
    _configure(
        hub_id, lambda db: pair(db, hub_id, address, model_id=model, actor=common.ACTOR, user_index=user)
    )


@hub_app.command("unpair")
def hub_unpair_remote(hub_id: str, address: str) -> None:
    """Remove a device from a hub's allowlist from the server."""
    from server.hub_config import unpair

    _configure(hub_id, lambda db: unpair(db, hub_id, address, actor=common.ACTOR))


@hub_app.command("telemetry")
def hub_telemetry_interval(
    hub_id: str,
    every: Annotated[float, typer.Option(min=10, max=86400, help="seconds between health reports")],
) -> None:
    """Set how often a hub reports its health (outbox, disk, devices)."""
    from server.hub_config import set_telemetry_interval

    _configure(hub_id, lambda db: set_telemetry_interval(db, hub_id, every, actor=common.ACTOR))


@hub_app.command("push")
def hub_push(hub_id: str) -> None:
    """Send the hub's current configuration again (after the broker was unreachable)."""
    _configure(hub_id)


@hub_app.command("list")
def hub_list() -> None:
    """Every hub: who it serves, online or not, its outbox backlog, and what needs attention."""
    from server.hubs import hub_overview

    hubs = hub_overview(common.db())
    if not hubs:
        typer.echo("no hubs registered; add one with: carewatch server hub add HUB_ID")
        return
    for h in hubs:
        t = h.telemetry
        backlog = f"outbox {t.outbox_depth}" if t else "no telemetry"
        typer.echo(f"{h.id:<20} {h.status:<8} patient {h.patient_id or '-':<12} {backlog}")
        for note in h.attention:
            typer.echo(f"    ! {note}")
