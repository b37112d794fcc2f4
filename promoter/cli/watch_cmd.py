"""``promoter watch``: ``promoter poll`` on a schedule, as a long-running process."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from promoter.cli.poll_cmds import common, poll_cmd
from promoter.flows.watch import Schedule, Tick, parse_duration, parse_jitter, watch


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT ask the loop to stop: the run in progress finishes first."""
    def handler(signum: int, frame: FrameType | None) -> None:
        click.echo(f"promoter watch: {signal.Signals(signum).name}: stopping after the "
                   "current run", err=True)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _human(seconds: float) -> str:
    """``0.5s``, ``42s``, ``5m3s``, ``1h0m``."""
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    s = round(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"
    return f"{s // 3600}h{s % 3600 // 60}m"


def _echo_tick(t: Tick) -> None:
    state = "ok" if t.ok else f"failed ({t.failures} in a row)" if t.failures > 1 else "failed"
    nxt = "; stopping" if t.wait is None else f"; next run in {_human(t.wait)}"
    click.echo(f"promoter watch: run {t.run} {state}{nxt}", err=True)


@click.command("watch")
@common
@click.option("--interval", default="5m", show_default=True,
              help="Time between polls: 30s, 5m, 1h, 1h30m.")
@click.option("--jitter", default="10%", show_default=True,
              help="Stretch or shrink each wait by up to this fraction, so many watchers "
                   "spread out.")
@click.option("--backoff-max", default="1h", show_default=True,
              help="After failed polls the wait doubles each time, up to this.")
@click.option("--max-runs", type=click.IntRange(min=1), default=None,
              help="Exit after this many polls (default: run until SIGTERM or SIGINT).")
@click.option("--dry-run", is_flag=True, help="Plan only: push nothing, open nothing.")
@click.pass_context
def watch_cmd(ctx: click.Context, /, interval: str, jitter: str, backoff_max: str,
              max_runs: int | None, dry_run: bool, **poll_args: Any) -> int:
    """Poll on a schedule until SIGTERM or SIGINT, for running promoter as a service.

    Each run is `promoter poll` with the same options. A failed run is logged and retried
    with exponential backoff; a signal lets the run in progress finish, then exits 0. After
    --max-runs the exit code is the last poll's (0 ok, 1 failed).
    """
    schedule = Schedule(interval=parse_duration(interval, key="--interval"),
                        jitter=parse_jitter(jitter),
                        backoff_max=parse_duration(backoff_max, key="--backoff-max"),
                        max_runs=max_runs)
    stop = threading.Event()

    def run_once() -> bool:
        return bool(ctx.invoke(poll_cmd, dry_run=dry_run, output="text", **poll_args) == 0)

    with _stop_on_signals(stop):
        last = watch(run_once, schedule, wait=stop.wait, stopping=stop.is_set,
                     on_tick=_echo_tick)
    return 1 if last is not None and not last.ok and not stop.is_set() else 0
