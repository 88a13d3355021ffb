"""``carewatch hub enrol``: turn a bundle (a file, or a claim code fetched from the server)
into the hub's configuration, then check, with the same checks as ``hub doctor``, that the
broker takes it.

Files are written with mode 0600, each atomically (temporary file, fsync, rename), so a power
cut during enrolment leaves the old file or the new one. An existing hub.toml is kept (it may
hold the household's time zone, feedback and other settings a technician chose) as long as
it names the same hub and broker; otherwise enrolment stops and says so, rather than turning
one patient's hub into another's without a word.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gateway.enrolment.bundle import BundleError, EnrolmentBundle

CLAIM_PATH = "/api/v1/enrol"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class EnrolError(RuntimeError):
    """Enrolment stopped; nothing on the hub was changed unless the message says so."""


@dataclass
class Enrolled:
    hub_id: str
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def fetch_bundle_text(server: str, code: str, *, cafile: Path | None = None, timeout: float = 15.0) -> str:
    """Exchange a claim code for the bundle over HTTPS (plain HTTP only to this machine, for
    trying it out). The code is single-use: a second fetch is refused by the server."""
    parts = urlsplit(server)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS):
        raise EnrolError(
            f"the server address must start with https:// (got {server!r}): the bundle holds a password"
        )
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        server.rstrip("/") + CLAIM_PATH,
        data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310 (checked above)
            return str(answer.read().decode())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail", "")
        except ValueError:
            detail = ""
        raise EnrolError(f"the server refused the code: {detail or e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EnrolError(f"cannot reach the server at {server}: {reason}") from None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if os.geteuid() == 0:  # enrolled by root: the files belong to whoever owns the directory
            owner = path.parent.stat()  # (install.sh makes /etc/carewatch the hub user's)
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def hub_toml(bundle: EnrolmentBundle, ca_file: Path, password_file: Path, state_dir: Path) -> str:
    return "\n".join(
        [
            "# Written by `carewatch hub enrol`; `carewatch hub status` validates it. Other settings:",
            "# see hub.toml.example (time zone, feedback, adapter).",
            f"hub_id = {_toml_string(bundle.hub_id)}",
            f"state_dir = {_toml_string(str(state_dir))}",
            "",
            "[broker]",
            f"host = {_toml_string(bundle.broker_host)}",
            f"port = {bundle.broker_port}",
            f"ca_file = {_toml_string(str(ca_file))}",
            f"password_file = {_toml_string(str(password_file))}",
            "",
        ]
    )


def install(bundle: EnrolmentBundle, config_dir: Path, state_dir: Path) -> Enrolled:
    """Write hub.toml, the password file and the CA file under ``config_dir``."""
    config = config_dir / "hub.toml"
    ca_file, password_file = config_dir / "ca.crt", config_dir / "mqtt-password"
    done = Enrolled(bundle.hub_id)
    if config.exists():
        try:
            existing = tomllib.loads(config.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise EnrolError(
                f"{config} exists but cannot be read ({e}); move it aside and enrol again"
            ) from None
        broker = existing.get("broker", {})
        have = (existing.get("hub_id"), broker.get("host"), broker.get("port"))
        want = (bundle.hub_id, bundle.broker_host, bundle.broker_port)
        if have != want:
            raise EnrolError(
                f"{config} is for hub {have[0]} at {have[1]}:{have[2]}, the bundle for {want[0]} at "
                f"{want[1]}:{want[2]}; nothing was changed. If this hub really changes identity, "
                f"move {config} aside and enrol again"
            )
        ca_file = Path(broker.get("ca_file", ca_file))
        password_file = Path(broker.get("password_file", password_file))
        done.kept.append(config)
    _write_private(ca_file, bundle.ca_pem if bundle.ca_pem.endswith("\n") else bundle.ca_pem + "\n")
    _write_private(password_file, bundle.password + "\n")
    done.written += [ca_file, password_file]
    if not done.kept:
        _write_private(config, hub_toml(bundle, ca_file, password_file, state_dir))
        done.written.append(config)
    return done


def read_bundle_source(source: str) -> tuple[str, bool]:
    """(text, is_file): a path to a bundle file, or else a claim code."""
    path = Path(source)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), True
        except OSError as e:
            raise EnrolError(f"cannot read {path}: {e}") from None
    if "/" in source or source.endswith(".json"):
        raise EnrolError(f"no bundle file {source}")
    return source, False


__all__ = ["BundleError", "EnrolError", "Enrolled", "fetch_bundle_text", "install", "read_bundle_source"]
