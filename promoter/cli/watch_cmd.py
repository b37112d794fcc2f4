"""``promoter watch``: ``promoter poll`` on a schedule, as a long-running process.

``--listen ADDR`` (``0.0.0.0:8080``, ``:8080``, ``[::]:8080``) serves ``GET /healthz`` and
``GET /metrics`` (Prometheus, :mod:`promoter.metrics`) while it runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import click

from promoter import logs, wiring
from promoter.cli.fleet import FleetRun, print_fleet, resolve, single
from promoter.cli.poll_cmds import _print, apply_shard, common, fleet_plan, session
from promoter.errors import InputError
from promoter.flows.watch import Schedule, Tick, parse_duration, parse_jitter, watch
from promoter.metrics import Metrics
from promoter.registry.httpcache import MemoryCache


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


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (every IPv4 address) or ``[V6]:PORT`` as (host, port)."""
    m = re.fullmatch(r"(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})", text.strip())
    if m is None or int(m[3]) > 65535:  # port 0: any free port (the line says which)
        raise InputError(f"--listen: {text!r} is not an address like 0.0.0.0:8080 or :8080")
    return m[1] or m[2] or "0.0.0.0", int(m[3])


@dataclass
class Health:
    """What ``/healthz`` says about the schedule."""

    started: float = field(default_factory=time.time)
    last: Tick | None = None
    last_ok: float | None = None

    def tick(self, t: Tick, metrics: Metrics) -> None:
        self.last = t
        if t.ok:
            self.last_ok = time.time()
        metrics.run("poll", t.ok)

    def doc(self) -> dict[str, Any]:
        t = self.last
        return {"status": "ok", "runs": t.run if t else 0,
                "last_run_ok": None if t is None else t.ok,
                "failures": t.failures if t else 0,
                "last_success": self.last_ok, "started": self.started}


@contextlib.contextmanager
def _listening(listen: str | None, health: Health, metrics: Metrics) -> Iterator[None]:
    if listen is None:
        yield
        return
    from promoter.serve import StatusApp, serve_asgi

    host, port = parse_listen(listen)
    try:
        listener = serve_asgi(StatusApp(health=health.doc, metrics=metrics), host, port,
                              name="promoter-watch-http")
    except OSError as e:
        raise InputError(f"--listen {listen}: {e.strerror or e}") from None
    click.echo(f"promoter watch: /healthz and /metrics on {listener.url}", err=True)
    try:
        yield
    finally:
        listener.stop(5)


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
@click.option("--listen", metavar="ADDR", default=None,
              help="Serve /healthz and /metrics on this address (0.0.0.0:8080, :8080).")
@click.pass_context
def watch_cmd(ctx: click.Context, /, interval: str, jitter: str, backoff_max: str,
              max_runs: int | None, dry_run: bool, listen: str | None, repo: tuple[str, ...],
              clone: tuple[str, ...], config: str | None, fleet: str | None, parallel: int,
              envs: tuple[str, ...], images: tuple[str, ...],
              shard: tuple[int, int] | None) -> int:
    """Poll on a schedule until SIGTERM or SIGINT, for running promoter as a service.

    Each run is `promoter poll` with the same options. A failed run is logged and retried
    with exponential backoff; a signal lets the run in progress finish, then exits 0. After
    --max-runs the exit code is the last poll's (0 ok, 1 failed).

    With --fleet (or --repo/--clone more than once) each run polls every repository, the
    fleet file read again (and discovery asked again) each run.
    """
    schedule = Schedule(interval=parse_duration(interval, key="--interval"),
                        jitter=parse_jitter(jitter),
                        backoff_max=parse_duration(backoff_max, key="--backoff-max"),
                        max_runs=max_runs)
    stop = threading.Event()
    logs.service(bool((ctx.find_root().obj or {}).get("debug")))
    metrics, health = Metrics(), Health()
    # registry answers kept from run to run, revalidated with their ETags
    kept = wiring.http_cache(os.environ) or MemoryCache()

    def run_fleet_once() -> bool:
        """One ``promoter poll`` of the fleet, each image read once for every repository."""
        found = resolve(repo, clone, config, fleet)
        assert found is not None
        run = FleetRun(observer=metrics.registry_request, kept=kept)
        report = fleet_plan(found, envs, images, dry_run=dry_run, do_poll=True, shard=shard,
                            parallel=parallel, run=run)
        metrics.poll_done(run.cache.count("tags"), (x.action for r in report.runs
                                                    if r.result for x in r.result.results),
                          sum(len(r.problems) for r in report.runs))
        print_fleet(report, "text")
        return report.ok

    def run_once() -> bool:
        """One ``promoter poll``, its registry requests and results counted."""
        from promoter.flows import dashboard
        from promoter.flows.poll import poll

        if fleet is not None or len(repo) + len(clone) > 1:
            return run_fleet_once()
        with session(*single(repo, clone), config) as (cfg, ws):
            cfg = apply_shard(cfg, shard)
            reg = wiring.registry(cfg, os.environ, kept=kept)  # entered in the flow's loop
            reg.observer = metrics.registry_request
            forge = None if dry_run else wiring.forge(cfg, os.environ)
            report = poll(cfg, ws, reg, forge, dry_run=dry_run, envs=envs or None,
                          images=images or None)
            if not dry_run:
                dashboard.refresh(cfg, forge, report)
            scanned = sum(1 for i in cfg.images if not images or i.name in images)
        metrics.poll_done(scanned, (r.action for r in report.results), len(report.errors))
        _print(report, "text", results=True)
        return report.ok

    def on_tick(t: Tick) -> None:
        health.tick(t, metrics)
        _echo_tick(t)

    with _stop_on_signals(stop), _listening(listen, health, metrics):
        last = watch(run_once, schedule, wait=stop.wait, stopping=stop.is_set,
                     on_tick=on_tick)
    return 1 if last is not None and not last.ok and not stop.is_set() else 0
