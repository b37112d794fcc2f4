"""``promoter worker``: run the jobs ``promoter serve --queue`` put into Redis.

Start as many as the load needs, on any host; the guarantees (one job per repository at a
time, retries with backoff, dead-letter, redelivery of a killed worker's jobs) live in Redis
and are described in :mod:`promoter.queue`. Each job opens the repository the way ``serve``
does (``--repo DIR`` or ``--clone URL``). SIGTERM (or Ctrl-C) lets the running jobs finish and
puts the messages not started back on the queue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import threading
from pathlib import Path

import click

from promoter import logs
from promoter.cli.fleet import resolve, serve_fleet_options, single
from promoter.cli.serve_cmd import make_fleet_runner, make_runner
from promoter.errors import InputError
from promoter.webhooks import Job


def lock_key(repo: str | None, clone: str | None) -> str:
    """The repository every job of this worker changes, as the lock's key: the clone URL or
    the checkout's path (hashed by the queue, so a token in a URL never reaches Redis)."""
    return f"clone:{clone}" if clone else f"repo:{Path(repo or '.').resolve()}"


def _whole(job: Job) -> list[Job]:
    return []


@click.command("worker")
@serve_fleet_options
@click.option("--queue", "queue_url", required=True, metavar="redis://HOST:PORT/DB",
              envvar="PROMOTER_QUEUE", help="The Redis that `promoter serve --queue` fills.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Jobs this process runs at once (one per repository, on any worker).")
@click.option("--heartbeat-timeout", type=click.FloatRange(1.0), default=60.0,
              show_default=True,
              help="Seconds after which a silent worker is dead and its jobs run elsewhere.")
@click.option("--lock-lease", type=click.FloatRange(1.0), default=30.0, show_default=True,
              help="Seconds a repository lock outlives a worker that died holding it.")
@click.option("--max-retries", type=click.IntRange(0), default=5, show_default=True,
              help="Runs again of a job that met a retryable error, then dead-letter.")
@click.option("--min-backoff", type=click.FloatRange(0.01), default=5.0, show_default=True,
              help="Seconds before the first retry; each next one waits twice as long.")
def worker(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
           fleet: str | None, queue_url: str,
           concurrency: int, heartbeat_timeout: float, lock_lease: float, max_retries: int,
           min_backoff: float) -> int:
    """Run the jobs `promoter serve --queue` enqueued: comment commands, promotions and
    polls of pushed images, one job per repository at a time across all workers.

    With --fleet (or --repo/--clone more than once) a job runs on the fleet repository it
    names; a registry push becomes one job per repository, each under its own lock.
    """
    try:
        from promoter.queue import Tuning, check_url, work
    except ImportError as e:
        raise InputError(f"worker needs the queue extra (pip install "
                         f"'gitops-promoter[queue]'): {e.name} is not installed") from None
    url = check_url(queue_url)
    logs.service(bool((click.get_current_context().find_root().obj or {}).get("debug")))
    tuning = Tuning(heartbeat_timeout_ms=int(heartbeat_timeout * 1000),
                    lease_ms=int(lock_lease * 1000), max_retries=max_retries,
                    min_backoff_ms=int(min_backoff * 1000))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    found = resolve(repo, clone, config, fleet)
    if found is None:
        one = hashlib.sha256(lock_key(*single(repo, clone)).encode()).hexdigest()
        run, key, split = make_runner(*single(repo, clone), config), (lambda job: one), _whole
    else:
        for where, problem in found.problems:
            click.echo(f"promoter worker: {where}: {problem}", err=True)
        members = found.fleet.members
        click.echo(f"promoter worker: {len(members)} repositories", err=True)

        def key(job: Job) -> str:
            return f"fleet:{job.repo.lower()}"

        def split(job: Job) -> list[Job]:
            if job.repo:
                return []
            return [dataclasses.replace(job, repo=m.name, delivery=f"{job.delivery}/{m.name}")
                    for m in members]

        run = make_fleet_runner(members)
    work(url, run, stop=stop, concurrency=concurrency, key=key, tuning=tuning, split=split,
         ready=lambda: click.echo(f"promoter worker: running jobs from the queue "
                                  f"(concurrency {concurrency})", err=True))
    click.echo("promoter worker: stopped", err=True)
    return 0
