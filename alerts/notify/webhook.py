"""Signed webhooks: how a team's own system (a rota app, a clinical system) hears about alerts.

Each POST carries the canonical JSON body of the notification and two headers:

* ``X-CareWatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
  The timestamp is signed so a captured request cannot be replayed later; receivers check
  it with :func:`verify_signature` (constant-time, bounded clock skew).
* ``Idempotency-Key: <notification id>``, identical on every retry. A timeout does not
  tell us whether the receiver acted, so we retry, and the receiver drops repeats it has
  seen: exactly-once as far as the receiver can tell.

Only a 2xx confirms. 408, 425, 429 and 5xx are retried (honouring ``Retry-After`` in
seconds); other statuses, redirects included, fail permanently: they mean a wrong URL or
secret, which retrying would only hide.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

import httpx

from alerts.notify.message import render_webhook_body
from alerts.notify.notifier import Attempt, DeliveryFailed

SIGNATURE_HEADER = "X-CareWatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRYABLE = {408, 425, 429}


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """For receivers. Accepts several ``v1=`` values so a sender can sign with old and new
    secrets during rotation; rejects timestamps further than ``tolerance_s`` from ``now``."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, c) for c in candidates)


class WebhookSender:
    """``secrets`` maps a channel's ``secret_id`` (from the routing config) to the secret
    itself, which the server loads from its own settings, never from the routing file."""

    def __init__(
        self,
        secrets: Mapping[str, str | bytes],
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = dict(secrets)
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._clock = clock

    def close(self) -> None:
        self._client.close()

    def send(self, attempt: Attempt) -> str:
        d = attempt.delivery
        secret = self._secrets.get(d.secret_id or "")
        if secret is None:
            raise DeliveryFailed(
                f"no webhook secret configured for secret_id {d.secret_id!r}", permanent=True
            )
        body = render_webhook_body(d.notification)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "CareWatch-Notify/1",
            IDEMPOTENCY_HEADER: d.notification.notification_id,
            SIGNATURE_HEADER: sign(secret, int(self._clock()), body),
            "X-CareWatch-Event": d.notification.event.value,
            "X-CareWatch-Attempt": str(attempt.number),
        }
        try:
            response = self._client.post(d.target, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryFailed(f"webhook {type(e).__name__}: {e}") from e
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        retryable = status in _RETRYABLE or status >= 500
        raise DeliveryFailed(
            f"webhook HTTP {status}: {response.text[:200]}",
            permanent=not retryable,
            retry_after=_retry_after(response.headers.get("Retry-After")) if retryable else None,
        )


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
