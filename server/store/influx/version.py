"""Which InfluxDB answers, and so which write path the store uses.

We must run against 1.x (what Debian ships, and what many clinics already have), 2.x and 3.x.
The two things all of them share are line protocol and InfluxQL over ``/query`` (native in
1.x and 3.x, the v1-compatibility API plus a DBRP mapping in 2.x). So writes build
``influxdb_client.Point``\\ s once and send them either with influxdb-client's own
``write_api`` to ``/api/v2/write`` (1.8+, 2.x, 3.x) or, for 1.0-1.7 which lack that
endpoint, as the very same line protocol POSTed to ``/write``.

``api="auto"`` asks ``GET /ping`` for the version once and picks ``v1`` below 1.8, ``v2``
otherwise (:func:`choose_api`). Its own module because the choice is a pure function of a
version string, tested on its own, and both the store and ``/health`` report it.
"""

from __future__ import annotations

import re
from typing import Literal

import httpx

ApiPath = Literal["v1", "v2"]


def version_of(ping: httpx.Response) -> str | None:
    """The server version a ``GET /ping`` answer names: 1.x/2.x in a header, 3.x in JSON."""
    version: str | None = ping.headers.get("X-Influxdb-Version")
    if version is None and ping.status_code == 200:  # 3.x answers JSON
        try:
            doc = ping.json()
            version = doc.get("version") if isinstance(doc, dict) else None
        except ValueError:
            version = None
    return version


def parse_version(version: str | None) -> tuple[int, int] | None:
    """``"1.6.7~rc0"``, ``"v2.7.4"``, ``"3.0.1"`` → (major, minor); None if not a version."""
    if not version:
        return None
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?", version)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def choose_api(version: str | None) -> tuple[ApiPath, str]:
    """The write path for a server version, and why (for the log)."""
    parsed = parse_version(version)
    if parsed is None:
        return "v2", f"server version {version!r} not recognised; assuming a current server (/api/v2/write)"
    if parsed < (1, 8):
        return "v1", f"server {version} predates 1.8 and has no /api/v2/write; using /write"
    return "v2", f"server {version} offers /api/v2/write"
