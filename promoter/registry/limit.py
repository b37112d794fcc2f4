"""How many requests may be in flight to one registry host, and how fast they may start.

A :class:`HostLimit` is either fixed (the user said how many) or adaptive. Adaptive starts
with a few requests in flight and moves the limit the way TCP Vegas moves a congestion
window: it keeps the shortest round trip seen for each kind of request as the unloaded
latency, and after each answer estimates how many requests are queueing at the server,
``limit * (1 - unloaded / latency)``. Few queued means the host has room: one more in flight.
Many queued means the extra requests only wait: one less. Answers that say "too much"
(``429``, ``503``) or time out halve the limit, at most once per round trip, so a burst of
them is one step down, not many. A host that is far away (latency dominated by the network)
therefore gets many requests at once, one that is busy or rate-limited gets few, and a
registry never sees more than the ceiling.

The limit only grows while it is used: when fewer than half the slots are busy, the latency
says nothing about the host's room. ``requests_per_second`` spaces the starts evenly on top.

Clock and sleep are injectable; the update rule itself is a pure function (:func:`vegas`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

FLOOR = 2
INITIAL = 8


def vegas(limit: float, unloaded: float, latency: float, *, floor: float,
          ceiling: float) -> float:
    """The next limit after an answer that took ``latency`` seconds while the quickest of its
    kind took ``unloaded``."""
    if latency <= 0 or unloaded <= 0:
        return limit
    queued = limit * (1.0 - unloaded / latency)
    scale = max(1.0, math.log10(limit))
    if queued < 3 * scale:
        return min(ceiling, limit + scale)
    if queued > 6 * scale:
        return max(floor, limit - scale)
    return limit


@dataclass
class Slot:
    """One request's place; the caller marks ``overloaded`` when the answer said so."""

    kind: str
    busy_at_start: int
    started: float
    overloaded: bool = False


@dataclass
class HostLimit:
    """``ceiling`` is the most requests ever in flight; ``fixed`` keeps the limit there."""

    ceiling: int
    fixed: bool = False
    initial: int = INITIAL
    floor: int = FLOOR
    requests_per_second: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    busy: int = 0
    peak: int = 0  # the most requests that were in flight at once
    _limit: float = field(init=False)
    _unloaded: dict[str, float] = field(default_factory=dict, init=False)
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque, init=False)
    _next_start: float = field(default=0.0, init=False)
    _last_cut: float = field(default=-math.inf, init=False)

    def __post_init__(self) -> None:
        self.ceiling = max(1, self.ceiling)
        self.floor = max(1, min(self.floor, self.ceiling))
        self._limit = float(self.ceiling if self.fixed else
                            min(self.ceiling, max(self.floor, self.initial)))

    @property
    def limit(self) -> int:
        return max(1, int(self._limit))

    @asynccontextmanager
    async def slot(self, kind: str) -> AsyncIterator[Slot]:
        """Wait for a place (and for the rate), hold it while the request runs, learn from how
        long it took."""
        await self._acquire()
        s: Slot | None = None
        try:
            await self._pace()
            s = Slot(kind, self.busy, self.clock())
            yield s
        except BaseException:
            self._release(s if s is not None and s.overloaded else None)  # e.g. a timeout
            raise
        self._release(s)

    async def _acquire(self) -> None:
        if self.busy >= self.limit or self._waiters:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    self.busy -= 1  # our turn came as we were cancelled: pass it on
                    self._wake_next()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(future)
                raise
        else:
            self.busy += 1
        self.peak = max(self.peak, self.busy)

    async def _pace(self) -> None:
        if self.requests_per_second:
            now = self.clock()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.requests_per_second
            if start > now:
                await self.sleep(start - now)

    def _wake_next(self) -> None:
        """Hand free places to waiters, in order (``busy`` counts them from here)."""
        while self._waiters and self.busy < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.busy += 1
                future.set_result(None)

    def _release(self, s: Slot | None) -> None:
        self.busy -= 1
        if s is not None and not self.fixed:
            self._learn(s)
        self._wake_next()

    def _learn(self, s: Slot) -> None:
        now = self.clock()
        latency = now - s.started
        if s.overloaded:
            if now - self._last_cut >= latency:  # once per round trip, not once per answer
                self._last_cut = now
                self._limit = max(self.floor, self._limit / 2)
            return
        unloaded = self._unloaded.get(s.kind)
        if unloaded is None or latency < unloaded:
            self._unloaded[s.kind] = unloaded = latency
        if 2 * s.busy_at_start < self._limit:
            return  # not using its places: latency says nothing about the host's room
        self._limit = vegas(self._limit, unloaded, latency, floor=self.floor,
                            ceiling=self.ceiling)
