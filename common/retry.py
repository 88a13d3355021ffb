"""One way to wait out a failure and try again, for every process in the house.

Why one module: the InfluxDB store, the ingest worker (a store outage, a dead letter it
cannot keep yet), the hub's publisher and its Bluetooth sessions each had a loop of their
own doubling a delay by hand, each a little different, each one more place for a slip (a
delay that overflows after a day of retrying, a stop request that sleeps out a 30 s wait).
Here a policy is plain data (:class:`RetryPolicy`: first delay, factor, cap, jitter, how
many attempts) and tenacity does the trying. This module adds only what tenacity leaves to
its caller, the same way for everyone:

* a stop request (a ``threading.Event``) ends the wait at once and starts no further
  attempt: :class:`RetryInterrupted`, so a stopping worker leaves its message unacknowledged
  instead of finishing a backoff;
* a server's own "not before" (``Retry-After``) may lengthen a delay, never past the cap;
* each retry is logged in the caller's logger, level and words, with the reason, so what
  an operator reads did not change when the loops moved here;
* running out of attempts is a named error (:class:`RetriesExhausted`) carrying the last
  failure, which the caller turns into its own ("not stored, try later").

Which failures are retried is always the caller's explicit list: anything else escapes at
once, as it did from the hand-written loops (a defect is not waited out).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

T = TypeVar("T")


class RetryInterrupted(Exception):
    """A stop was requested, so no (further) attempt was made; the work was not done."""


class RetriesExhausted(Exception):
    """Every attempt the policy allows failed. ``last`` is the last failure (and the cause)."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after each failure, and how often to try.

    The n-th delay (n from 1) is ``min(cap, first * factor ** (n - 1))``, then multiplied by a
    random factor in ``[1 - jitter, 1]`` (the last ``jitter`` of each delay is random, so
    many clients retrying at once do not stampede). ``attempts`` counts the first try too;
    None retries until it succeeds or is stopped.
    """

    first: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0
    attempts: int | None = None

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < 0:
            raise ValueError("retry delays cannot be negative")
        if self.factor < 1:
            raise ValueError("a retry delay cannot shrink (factor below 1)")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction of the delay, 0..1")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("at least one attempt")

    def delays(self) -> Iterator[float]:
        """The delay after each failure in turn, endless (a loop stops asking on success).

        For a loop whose wait is not a sleep, such as the hub's Bluetooth sessions: after a
        failed one it ignores the device's advertisements until the delay has passed.
        """
        wait = _PolicyWait(self, None)
        state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
        while True:
            yield wait(state)
            state.attempt_number += 1


class _PolicyWait(wait_base):
    """tenacity's exponential wait, jittered, lengthened to a hint the failure carries."""

    def __init__(self, policy: RetryPolicy, at_least: Callable[[BaseException], float | None] | None) -> None:
        self._policy = policy
        self._exponential = wait_exponential(multiplier=policy.first, max=policy.cap, exp_base=policy.factor)
        self._at_least = at_least

    def __call__(self, retry_state: RetryCallState) -> float:
        policy = self._policy
        delay = float(self._exponential(retry_state))
        if policy.jitter:
            delay *= random.uniform(1.0 - policy.jitter, 1.0)
        outcome = retry_state.outcome
        if self._at_least is not None and outcome is not None and outcome.failed:
            error = outcome.exception()
            hint = None if error is None else self._at_least(error)
            if hint is not None:
                delay = max(delay, min(policy.cap, hint))
        return delay


class Retry:
    """Call something under a policy: retry the failures named in ``on``, let others escape.

    ``message`` is a %-format over ``error`` (the failure), ``delay`` (seconds until the next
    attempt), ``attempt`` (the number of the one that failed) and ``attempts`` (the policy's
    limit), logged to ``log`` at ``level`` before each wait; e.g.
    ``"store unavailable (%(error)s); retrying in %(delay).0fs"``.

    With ``stop``, the wait is ``stop.wait`` (a stop request cuts it short) and a set event
    raises :class:`RetryInterrupted` before any attempt. ``sleep`` replaces the wait (tests
    record delays with it). ``at_least`` reads a failure's own minimum delay, if it has one.
    ``reraise`` gives up with the last failure itself (its own cause intact) rather than
    :class:`RetriesExhausted`, for a caller whose callers already handle that failure.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        on: tuple[type[BaseException], ...],
        log: logging.Logger,
        message: str,
        level: int = logging.WARNING,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
        at_least: Callable[[BaseException], float | None] | None = None,
        reraise: bool = False,
    ) -> None:
        self.policy = policy
        self._on = on
        self._log = log
        self._message = message
        self._level = level
        self._stop = stop
        self._sleep = sleep if sleep is not None else (time.sleep if stop is None else stop.wait)
        self._wait = _PolicyWait(policy, at_least)
        self._reraise = reraise

    def call(self, attempt: Callable[[], T]) -> T:
        """``attempt()``'s result, after as many tries as the policy allows.

        Raises :class:`RetriesExhausted` (or, with ``reraise``, the last failure) when the
        attempts run out, :class:`RetryInterrupted` when stopped, and whatever ``attempt``
        raised that ``on`` does not name, unchanged.
        """

        def guarded() -> T:
            if self._stop is not None and self._stop.is_set():
                raise RetryInterrupted("stopping: not tried again")
            return attempt()

        attempts = self.policy.attempts
        halt: stop_base = stop_never if attempts is None else stop_after_attempt(attempts)
        retrying = Retrying(
            sleep=self._nap,
            stop=halt,
            wait=self._wait,
            retry=retry_if_exception_type(self._on) & retry_if_not_exception_type(RetryInterrupted),
            before_sleep=self._announce,
            reraise=self._reraise,
        )
        try:
            return retrying(guarded)
        except RetryError as e:
            last = e.last_attempt.exception()
            if last is None:  # pragma: no cover - tenacity gives up only on a failed attempt here
                raise
            raise RetriesExhausted(e.last_attempt.attempt_number, last) from last

    def _nap(self, seconds: float) -> None:
        self._sleep(seconds)

    def _announce(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        self._log.log(
            self._level,
            self._message,
            {
                "error": None if outcome is None else outcome.exception(),
                "delay": retry_state.upcoming_sleep,
                "attempt": retry_state.attempt_number,
                "attempts": self.policy.attempts,
            },
        )
