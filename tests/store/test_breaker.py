"""The circuit breaker's rules, on a clock the test moves: rest after a failure without
calling, one probe after the cool-down (and only one while it runs), close on any answer."""

from __future__ import annotations

import threading

import pytest

from server.store.breaker import CircuitBreaker, CircuitOpen


class Down(Exception):
    pass


class Refused(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Service:
    """Counts the calls that reached it and fails while ``down``."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = True

    def read(self) -> str:
        self.calls += 1
        if self.down:
            raise Down("connection refused")
        return "rows"


def test_after_a_failure_it_rests_then_lets_one_probe_through() -> None:
    clock, svc = Clock(), Service()
    breaker = CircuitBreaker("store", 20.0, clock=clock)
    with pytest.raises(Down):
        breaker.call(svc.read, trips_on=(Down,))
    assert breaker.is_open() and svc.calls == 1
    clock.now += 19.0
    with pytest.raises(
        CircuitOpen, match=r"store failed just now \(connection refused\); not asked again for 1 s"
    ):
        breaker.call(svc.read, trips_on=(Down,))
    assert svc.calls == 1  # resting: not called
    clock.now += 1.0
    with pytest.raises(Down):  # the probe fails: rest again, from now
        breaker.call(svc.read, trips_on=(Down,))
    assert svc.calls == 2
    clock.now += 10.0
    with pytest.raises(CircuitOpen):
        breaker.call(svc.read, trips_on=(Down,))
    clock.now += 10.0
    svc.down = False
    assert breaker.call(svc.read, trips_on=(Down,)) == "rows"
    assert not breaker.is_open()
    assert breaker.call(svc.read, trips_on=(Down,)) == "rows"
    assert svc.calls == 4


def test_only_one_probe_runs_at_a_time() -> None:
    clock, svc = Clock(), Service()
    breaker = CircuitBreaker("store", 5.0, clock=clock)
    with pytest.raises(Down):
        breaker.call(svc.read, trips_on=(Down,))
    clock.now += 6.0
    entered, release = threading.Event(), threading.Event()

    def slow_probe() -> str:
        entered.set()
        assert release.wait(10)
        return "rows"

    result: list[str] = []
    probe = threading.Thread(target=lambda: result.append(breaker.call(slow_probe, trips_on=(Down,))))
    probe.start()
    assert entered.wait(10)
    with pytest.raises(CircuitOpen):  # a second caller does not pile onto the probe
        breaker.call(svc.read, trips_on=(Down,))
    release.set()
    probe.join(10)
    assert result == ["rows"] and not breaker.is_open()


def test_an_answer_that_is_not_an_outage_closes_it() -> None:
    clock, svc = Clock(), Service()
    breaker = CircuitBreaker("store", 5.0, clock=clock)
    with pytest.raises(Down):
        breaker.call(svc.read, trips_on=(Down,))
    clock.now += 5.0

    def refused() -> str:
        raise Refused("bad query")

    with pytest.raises(Refused):  # the store answered: the query was at fault, not the store
        breaker.call(refused, trips_on=(Down,))
    assert not breaker.is_open()
