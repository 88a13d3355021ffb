"""TEST-ONLY: a URL-rewriting HTTP proxy that lets a real InfluxDB 1.6.7 accept v2 writes.

Why it exists: InfluxDB 2.x and 3.x cannot be installed on our machines (not in Debian, not on
PyPI or npm, no Docker engine), and Debian's 1.6.7 has no ``/api/v2/*`` endpoints. Line
protocol is the same on every version; only the write endpoint differs. So this proxy maps

    POST /api/v2/write?bucket=db/rp&org=..&precision=ns|us|ms|s
      -> POST /write?db=db&rp=rp&precision=n|u|ms|s

and passes ``/ping``, ``/query`` and ``/write`` through unchanged. That lets the UNMODIFIED
influxdb-client v2 write path (``write_api(...).write(...)``) store into the real database,
where the tests read it back with InfluxQL. It can also claim another server version in
``X-Influxdb-Version`` (e.g. "2.7.4", so ``api="auto"`` picks v2) and inject failures (to test
retries). It is not a 2.x emulator: no orgs, buckets API, tokens or Flux. Never use it outside
tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}
_PASS_THROUGH = ("/ping", "/query", "/write")
_RESPONSE_HEADERS = ("content-type", "x-influxdb-build", "x-influxdb-error", "x-request-id", "retry-after")


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # as the client sent it, before rewriting
    status: int


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: str | None


class InfluxV2Proxy:
    """``with InfluxV2Proxy(upstream, pretend_version="2.7.4") as proxy: proxy.url``."""

    def __init__(self, upstream: str, pretend_version: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.pretend_version = pretend_version
        self.requests: list[SeenRequest] = []
        self._failure: _Failure | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="influx-v2-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> InfluxV2Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> InfluxV2Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.path.split("?")[0] for r in self.requests if method is None or r.method == method]

    @contextmanager
    def failing(self, status: int, times: int, retry_after: str | None = None) -> Iterator[None]:
        """Answer the next ``times`` write requests with ``status`` instead of forwarding them."""
        with self._lock:
            self._failure = _Failure(status, times, retry_after)
        try:
            yield
        finally:
            with self._lock:
                self._failure = None

    # --- internals ---

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            f = self._failure
            if f is None or f.remaining <= 0 or not path.endswith("/write"):
                return None
            f.remaining -= 1
            return f

    def _rewrite(self, method: str, raw_path: str) -> tuple[str, dict[str, list[str]]] | None:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path == "/api/v2/write" and method == "POST":
            bucket = query.get("bucket", [""])[0]
            db, _, rp = bucket.partition("/")
            params = {"db": [db], "precision": [PRECISIONS.get(query.get("precision", ["ns"])[0], "n")]}
            if rp:
                params["rp"] = [rp]
            return "/write", params
        if parts.path in _PASS_THROUGH:
            return parts.path, query
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet; tests inspect proxy.requests instead

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                with proxy._lock:  # before answering, so the client never sees it missing
                    proxy.requests.append(SeenRequest(self.command, self.path, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if proxy.pretend_version is not None:
                    self.send_header("X-Influxdb-Version", proxy.pretend_version)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = proxy._rewrite(self.command, self.path)
                if target is None:
                    msg = json.dumps({"error": f"proxy: no mapping for {self.command} {self.path}"})
                    self._reply(404, msg.encode(), {"Content-Type": "application/json"})
                    return
                failure = proxy._take_failure(target[0])
                if failure is not None:
                    headers = {"Content-Type": "application/json"}
                    if failure.retry_after is not None:
                        headers["Retry-After"] = failure.retry_after
                    msg = json.dumps({"code": "unavailable", "message": "proxy: injected failure"})
                    self._reply(failure.status, msg.encode(), headers)
                    return
                path, params = target
                fwd_headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "content-encoding", "accept")
                }
                # 1.x basic auth passes through; a 2.x "Token" header means nothing to 1.6 (auth off).
                auth = self.headers.get("Authorization")
                if auth and not auth.startswith("Token "):
                    fwd_headers["Authorization"] = auth
                url = f"{path}?{urlencode(params, doseq=True)}" if params else path
                try:
                    r = proxy._client.request(self.command, url, content=body or None, headers=fwd_headers)
                except httpx.TransportError as e:
                    self._reply(502, json.dumps({"error": f"proxy: upstream {e}"}).encode(), {})
                    return
                out = r.content
                if self.path.startswith("/api/v2/") and r.status_code >= 400:
                    # 2.x error bodies are {"code", "message"}; 1.x says {"error"}.
                    try:
                        message = r.json().get("error", r.text)
                    except ValueError:
                        message = r.text
                    out = json.dumps({"code": "invalid", "message": message}).encode()
                headers = {k: v for k, v in r.headers.items() if k.lower() in _RESPONSE_HEADERS}
                if "X-Influxdb-Version" in r.headers and proxy.pretend_version is None:
                    headers["X-Influxdb-Version"] = r.headers["X-Influxdb-Version"]
                self._reply(r.status_code, out, headers)

            do_GET = _handle  # http.server's naming
            do_POST = _handle

        return Handler
