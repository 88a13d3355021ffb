"""Shared test material: a notification built the way the server will build one, and real
local receivers (HTTP) that misbehave on cue."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.notify.message import Event, Notification, initials_of
from alerts.severity import Severity

# What the server knows about the patient and must never send anywhere.
PATIENT_NAME = "Margaret Oyelaran-Smith"
NHS_NUMBER = "943 476 5919"
READINGS = ("SpO2 86%", "heart rate 131", "NEWS2 score 7", "86", "131")
T0 = datetime(2025, 3, 31, 9, 0, tzinfo=UTC)  # Monday 10:00 BST
LINK = "https://carewatch.example.nhs.uk/alerts/alert-42"
NOTIFICATION_ID = "0b9a3c2e-5d4f-4e7a-8b1c-2d3e4f5a6b7c"

CONFIG_YAML = """
timezone: Europe/London
closed_dates: [2025-12-25]          # bank holiday: out of hours all day
teams:
  north:
    name: District Nursing North
    on_call:
      - days: [mon, tue, wed, thu, fri]
        start: "08:00"
        end: 18:30                    # unquoted on purpose: YAML 1.1 reads it as 1110
      - days: [sat]
        start: "09:00"
        end: "13:00"
    out_of_hours_team: ooh
    channels:
      - kind: email
        to: [north-dn@nhs.example]
      - kind: notify_sms
        to: ["07700 900123"]
        min_severity: red
      - kind: webhook
        url: https://rota.north.example/hooks/carewatch
        secret_id: north-rota
        when: always
        events: [opened, escalated]
  ooh:
    name: Out-of-hours service
    channels:
      - kind: notify_sms
        to: ["+447700900456"]
        min_severity: red
      - kind: email
        to: [ooh@nhs.example]
  night:
    on_call:
      - days: [fri]
        start: "22:00"
        end: "06:00"
      - days: [sun]
        start: "08:00"
        end: "12:00"
    channels:
      - kind: email
        to: [night@nhs.example]
        when: always
"""


def notification(**overrides: Any) -> Notification:
    fields: dict[str, Any] = {
        "alert_id": "alert-42",
        "patient_initials": initials_of(PATIENT_NAME),
        "severity": Severity.RED,
        "team": "north",
        "link": LINK,
        "event": Event.OPENED,
        "at": T0,
        "notification_id": NOTIFICATION_ID,
    }
    fields.update(overrides)
    return Notification.create(**fields)


def assert_minimal(text: str) -> None:
    assert "MO" in text
    for secret in (PATIENT_NAME, "Margaret", "Oyelaran", NHS_NUMBER, "9434765919", *READINGS):
        assert secret not in text, secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver that dedupes by Idempotency-Key, as we ask real receivers to.

    ``script`` is consumed one entry per request: an HTTP status to answer *without*
    processing, or ``"stall"`` to process the notification and then never answer (the
    sender times out not knowing it got through). Once empty, requests are processed.
    """

    script: list[int | str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    processed: dict[str, bytes] = field(default_factory=dict)
    successes: int = 0  # 2xx answers actually given
    stall_s: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> tuple[int, bytes] | None:
        key = request.headers.get("Idempotency-Key", "")
        with self.lock:
            self.requests.append(request)
            action = self.script.pop(0) if self.script else 200
            if isinstance(action, int) and action != 200:
                return action, b'{"error":"scripted"}'
            duplicate = key in self.processed
            if not duplicate:
                self.processed[key] = request.body
            if action == "stall":
                return None
            self.successes += 1
        return 200, b'{"duplicate":true}' if duplicate else b'{"ok":true}'


@contextmanager
def http_server(app: Any, port: int = 0) -> Iterator[str]:
    """Serve ``app.handle(Request) -> (status, body) | None`` on loopback; yields the base URL.
    None means: leave the client hanging for ``app.stall_s``, then drop the connection."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, dict(self.headers.items()), body)
            answer = app.handle(request)
            if answer is None:
                time.sleep(app.stall_s)
                return
            status, payload = answer
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
