"""The one retry mechanism (common/retry.py): what every loop that waits out a failure relies on.

Pure: no service, no real sleeping except where a stop request must cut a real wait short.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from itertools import islice

import pytest

from common.retry import RetriesExhausted, Retry, RetryInterrupted, RetryPolicy

log = logging.getLogger("tests.retry")


class Down(Exception):
    def __init__(self, message: str = "down", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def failing(times: int, error: Exception, result: str = "done") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return result

    return calls, attempt


def test_delays_double_from_the_first_up_to_the_cap_and_never_overflow() -> None:
    assert list(islice(RetryPolicy(first=1.0, cap=30.0).delays(), 8)) == [1, 2, 4, 8, 16, 30, 30, 30]
    assert list(islice(RetryPolicy(first=1.0, factor=3.0, cap=3.0).delays(), 3)) == [1, 3, 3]
    # A store down for days: thousands of failures later the delay is still the cap.
    assert next(islice(RetryPolicy(first=1.0, cap=30.0).delays(), 5000, None)) == 30.0


def test_jitter_takes_the_last_share_of_each_delay() -> None:
    for _ in range(50):
        delays = list(islice(RetryPolicy(first=0.5, cap=30.0, jitter=0.5).delays(), 8))
        for d, full in zip(delays, [0.5, 1, 2, 4, 8, 16, 30, 30], strict=True):
            assert full * 0.5 <= d <= full


def test_a_named_failure_is_retried_until_it_succeeds() -> None:
    sleeps: list[float] = []
    calls, attempt = failing(3, Down())
    retry = Retry(RetryPolicy(first=1.0, cap=30.0), on=(Down,), log=log, message="x", sleep=sleeps.append)
    assert retry.call(attempt) == "done"
    assert (len(calls), sleeps) == (4, [1.0, 2.0, 4.0])


def test_a_failure_not_named_escapes_at_once_unchanged() -> None:
    sleeps: list[float] = []
    defect = ValueError("a defect")
    calls, attempt = failing(5, defect)
    retry = Retry(RetryPolicy(first=1.0, cap=30.0), on=(Down,), log=log, message="x", sleep=sleeps.append)
    with pytest.raises(ValueError, match="a defect") as err:
        retry.call(attempt)
    assert err.value is defect
    assert (len(calls), sleeps) == (1, [])


def test_running_out_of_attempts_names_how_many_and_the_last_failure() -> None:
    sleeps: list[float] = []
    last = Down("still down")
    calls, attempt = failing(10, last)
    retry = Retry(
        RetryPolicy(first=1.0, cap=30.0, attempts=3), on=(Down,), log=log, message="x", sleep=sleeps.append
    )
    with pytest.raises(RetriesExhausted, match="gave up after 3 attempt") as err:
        retry.call(attempt)
    assert (err.value.attempts, err.value.last, err.value.__cause__) == (3, last, last)
    assert (len(calls), sleeps) == (3, [1.0, 2.0])  # no wait after the last attempt


def test_a_caller_may_give_up_with_the_last_failure_itself() -> None:
    sleeps: list[float] = []
    try:
        raise KeyError("the root cause")
    except KeyError as root:
        last = Down("still down")
        last.__cause__ = root
    calls, attempt = failing(10, last)
    retry = Retry(
        RetryPolicy(first=1.0, factor=3.0, cap=3.0, attempts=3),
        on=(Down,),
        log=log,
        message="x",
        sleep=sleeps.append,
        reraise=True,
    )
    with pytest.raises(Down) as err:
        retry.call(attempt)
    assert err.value is last
    assert isinstance(err.value.__cause__, KeyError)
    assert (len(calls), sleeps) == (3, [1.0, 3.0])


def test_a_server_asking_for_longer_is_heeded_up_to_the_cap() -> None:
    sleeps: list[float] = []
    errors = iter([Down(retry_after=7.0), Down(retry_after=600.0), Down(retry_after=None)])

    def attempt() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "done"

    def hint(e: BaseException) -> float | None:
        return e.retry_after if isinstance(e, Down) else None

    retry = Retry(
        RetryPolicy(first=1.0, cap=30.0), on=(Down,), log=log, message="x", sleep=sleeps.append, at_least=hint
    )
    assert retry.call(attempt) == "done"
    assert sleeps == [7.0, 30.0, 4.0]


def test_each_retry_is_logged_in_the_callers_logger_level_and_words(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.retry")
    _, attempt = failing(2, Down("connection refused"))
    retry = Retry(
        RetryPolicy(first=1.0, cap=30.0, attempts=5),
        on=(Down,),
        log=log,
        level=logging.ERROR,
        message="write: attempt %(attempt)d/%(attempts)d failed (%(error)s); retrying in %(delay).0fs",
        sleep=lambda s: None,
    )
    retry.call(attempt)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("tests.retry", logging.ERROR, "write: attempt 1/5 failed (connection refused); retrying in 1s"),
        ("tests.retry", logging.ERROR, "write: attempt 2/5 failed (connection refused); retrying in 2s"),
    ]


def test_a_stop_request_cuts_a_long_wait_short_and_starts_no_further_attempt() -> None:
    stop = threading.Event()
    calls, attempt = failing(100, Down())
    retry = Retry(RetryPolicy(first=30.0, cap=30.0), on=(Down,), log=log, message="x", stop=stop)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(RetryInterrupted):
        retry.call(attempt)
    assert time.monotonic() - started < 5.0
    assert len(calls) == 1


def test_nothing_is_tried_once_stopping() -> None:
    stop = threading.Event()
    stop.set()
    calls, attempt = failing(0, Down())
    retry = Retry(
        RetryPolicy(first=1.0, cap=30.0), on=(Down, RetryInterrupted), log=log, message="x", stop=stop
    )
    with pytest.raises(RetryInterrupted):
        retry.call(attempt)
    assert calls == []


@pytest.mark.parametrize(
    "bad",
    [
        {"first": -1.0, "cap": 1.0},
        {"first": 1.0, "cap": -1.0},
        {"first": 1.0, "cap": 1.0, "factor": 0.5},
        {"first": 1.0, "cap": 1.0, "jitter": 1.5},
        {"first": 1.0, "cap": 1.0, "attempts": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"negative|shrink|fraction|at least one"):
        RetryPolicy(**bad)  # type: ignore[arg-type]
