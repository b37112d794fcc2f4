"""The schedule of ``promoter watch``: run, sleep (with jitter and capped backoff), repeat.

Pure except for what is injected: the run, the wait (which returns True when asked to stop, as
:meth:`threading.Event.wait` does) and the random source, so tests drive it without a clock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from promoter import durations
from promoter.errors import InputError, PromoterError
from promoter.secrets import redact

log = logging.getLogger(__name__)

def parse_duration(text: str, *, key: str) -> float:
    """A duration in promoter's one grammar (:mod:`promoter.durations`: ``30s``, ``5m``,
    ``1h30m``, ``1.5h``, ``1w``) as seconds, longer than zero."""
    seconds = durations.parse_duration(text.strip(), key=key).total_seconds()
    if seconds <= 0:
        raise InputError(f"{key}: {text!r} must be longer than zero")
    return seconds


def parse_jitter(text: str) -> float:
    """``10%`` or ``0.1`` as a fraction in [0, 1)."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(f"--jitter: {text!r} is not a fraction like 10% or 0.1") from None
    if not 0 <= value < 1:
        raise InputError(f"--jitter: {text!r} must be at least 0% and below 100%")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    interval: float  # seconds between runs that succeed
    jitter: float = 0.1  # each wait is stretched or shrunk by up to this fraction
    backoff_max: float = 3600.0  # the longest wait after failures
    max_runs: int | None = None  # stop after this many runs (None: until asked to stop)

    def delay(self, failures: int, rand: float) -> float:
        """The wait after a run, ``failures`` consecutive failed runs so far, ``rand`` in [0, 1).

        Success waits the interval; each failure in a row doubles it, up to ``backoff_max`` (or
        the interval, if that is longer). Jitter spreads many watchers over the interval.
        """
        base = self.interval
        if failures:
            cap = max(self.backoff_max, self.interval)
            base = min(self.interval * 2.0 ** min(failures, 62), cap)
        return base * (1 + self.jitter * (2 * rand - 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    run: int  # 1-based
    ok: bool
    failures: int  # consecutive failed runs, this one included
    wait: float | None  # seconds until the next run; None when this was the last


def watch(run_once: Callable[[], bool], schedule: Schedule, *,
          wait: Callable[[float], bool], stopping: Callable[[], bool],
          rand: Callable[[], float] = random.random,
          on_tick: Callable[[Tick], None] = lambda _: None) -> Tick | None:
    """Run ``run_once`` on ``schedule`` until ``stopping()``, a ``wait`` returning True or
    ``max_runs``; return the last run's tick (None: stopped before the first). A run that raises
    counts as failed (one redacted line logged) and never ends the loop. A run in progress when
    stop is asked always finishes.
    """
    runs = failures = 0
    tick: Tick | None = None
    while not stopping():
        runs += 1
        try:
            ok = run_once()
        except PromoterError as e:
            log.error("run %d: %s", runs, redact(str(e)))
            ok = False
        except Exception as e:  # noqa: BLE001 - a long-running service outlives one bad run
            log.error("run %d: unexpected %s", runs, redact(f"{type(e).__name__}: {e}"))
            ok = False
        failures = 0 if ok else failures + 1
        last = stopping() or (schedule.max_runs is not None and runs >= schedule.max_runs)
        delay = None if last else schedule.delay(failures, rand())
        tick = Tick(run=runs, ok=ok, failures=failures, wait=delay)
        on_tick(tick)
        if delay is None or wait(delay):
            break
    return tick
