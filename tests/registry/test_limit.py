"""HostLimit: how many requests go to one host at once, driven with a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from promoter.registry.limit import FLOOR, INITIAL, HostLimit, vegas


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(clock: Clock, **kw: object) -> HostLimit:
    return HostLimit(clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


async def round_trip(limit: HostLimit, clock: Clock, latency: Callable[[int], float],
                     *, overloaded: bool = False, kind: str = "tags") -> int:
    """As many requests as the limit allows start together and all answer after
    ``latency(how many)``; returns how many ran."""
    async with contextlib.AsyncExitStack() as stack:
        slots = [await stack.enter_async_context(limit.slot(kind)) for _ in range(limit.limit)]
        clock.now += latency(len(slots))
        for s in slots:
            s.overloaded = overloaded
    return len(slots)


def run_rounds(limit: HostLimit, clock: Clock, latency: Callable[[int], float],
               rounds: int) -> list[int]:
    async def go() -> list[int]:
        return [await round_trip(limit, clock, latency) for _ in range(rounds)]
    return asyncio.run(go())


# -- the rule -------------------------------------------------------------------------------

@pytest.mark.parametrize(("latency", "expected"), [
    (0.010, 9.0),   # as fast as unloaded: nothing queues, one more
    (0.012, 9.0),   # 8 * (1 - 10/12) = 1.3 queued: still room
    (0.020, 8.0),   # 4 queued: between the thresholds, stay
    (0.050, 7.0),   # 6.4 queued: one less
])
def test_vegas_rule(latency: float, expected: float) -> None:
    assert vegas(8.0, 0.010, latency, floor=2, ceiling=32) == pytest.approx(expected)


def test_vegas_rule_keeps_to_floor_and_ceiling() -> None:
    assert vegas(32.0, 0.01, 0.01, floor=2, ceiling=32) == 32.0
    assert vegas(8.0, 0.01, 1.0, floor=8, ceiling=32) == 8.0
    assert vegas(10.0, 0.01, 1.0, floor=2, ceiling=32) == 9.0
    assert vegas(8.0, 0.0, 0.01, floor=2, ceiling=32) == 8.0  # no measure, no move


# -- adaptive -------------------------------------------------------------------------------

def test_starts_low_and_grows_to_the_ceiling_while_latency_stays_flat() -> None:
    """A far registry: every answer takes the network's 80 ms however many are in flight."""
    clock = Clock()
    limit = make(clock, ceiling=32)
    ran = run_rounds(limit, clock, lambda n: 0.080, 8)
    assert ran[0] == INITIAL
    assert ran == sorted(ran) and ran[-1] == 32 and limit.limit == 32 and limit.peak == 32


def test_stays_low_when_answers_slow_down_with_load() -> None:
    """A busy registry (each request in flight adds 2 ms to every answer): more in flight only
    queues, so the limit settles a few above where it started instead of climbing to the
    ceiling, and stays there."""
    clock = Clock()
    limit = make(clock, ceiling=64)
    ran = run_rounds(limit, clock, lambda n: 0.002 * n, 40)
    assert ran[0] == INITIAL and max(ran) <= 2 * INITIAL
    assert len(set(ran[10:])) == 1


def test_overload_halves_the_limit_once_per_round_trip() -> None:
    clock = Clock()
    limit = make(clock, ceiling=32)
    run_rounds(limit, clock, lambda n: 0.05, 8)
    assert limit.limit == 32

    async def go() -> None:
        await round_trip(limit, clock, lambda n: 0.05, overloaded=True)  # 32 answers of 429
    asyncio.run(go())
    assert limit.limit == 16
    asyncio.run(go())
    assert limit.limit == 8
    for _ in range(5):
        asyncio.run(go())
    assert limit.limit == FLOOR


def test_an_unused_limit_does_not_grow() -> None:
    """One request at a time says nothing about the host's room."""
    clock = Clock()
    limit = make(clock, ceiling=32)

    async def one_by_one() -> None:
        for _ in range(100):
            async with limit.slot("tags"):
                clock.now += 0.05
    asyncio.run(one_by_one())
    assert limit.limit == INITIAL and limit.peak == 1


def test_unloaded_latency_is_kept_per_kind() -> None:
    """Token requests take 5x a tag list even unloaded; mixing them must not read as a queue."""
    clock = Clock()
    limit = make(clock, ceiling=32)

    async def go() -> None:
        for i in range(10):
            kind, latency = ("token", 0.05) if i % 2 else ("tags", 0.01)
            await round_trip(limit, clock, lambda n: latency, kind=kind)  # noqa: B023
    asyncio.run(go())
    assert limit.limit == 32


# -- fixed, pacing, waiting -----------------------------------------------------------------

def test_fixed_limit_never_moves() -> None:
    clock = Clock()
    limit = make(clock, ceiling=5, fixed=True)
    assert run_rounds(limit, clock, lambda n: 0.002 * n, 10) == [5] * 10

    async def go() -> None:
        await round_trip(limit, clock, lambda n: 0.05, overloaded=True)
    asyncio.run(go())
    assert limit.limit == 5


def test_requests_per_second_space_the_starts() -> None:
    clock = Clock()
    limit = make(clock, ceiling=8, fixed=True, requests_per_second=4)
    starts: list[float] = []

    async def go() -> None:
        for _ in range(5):
            async with limit.slot("tags"):
                starts.append(clock.now)
    asyncio.run(go())
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:], strict=False)] == [0.25] * 4


def test_waiters_go_in_order_and_a_cancelled_waiter_frees_its_turn() -> None:
    order: list[int] = []

    async def go() -> None:
        limit = HostLimit(ceiling=1, fixed=True)
        release = asyncio.Event()

        async def user(i: int) -> None:
            async with limit.slot("tags"):
                order.append(i)
                await release.wait()

        first = asyncio.create_task(user(0))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(user(i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        assert limit.busy == 1 and order == [0]
        waiting[0].cancel()  # gives up while waiting
        release.set()
        await asyncio.gather(first, *waiting[1:])
        assert waiting[0].cancelled()
        assert limit.busy == 0 and limit.peak == 1

    asyncio.run(go())
    assert order == [0, 2, 3]


def test_a_request_that_fails_gives_its_place_back() -> None:
    async def go() -> HostLimit:
        limit = HostLimit(ceiling=2, fixed=True)
        for _ in range(5):
            with contextlib.suppress(RuntimeError):
                async with limit.slot("tags"):
                    raise RuntimeError("boom")
        return limit
    assert asyncio.run(go()).busy == 0
