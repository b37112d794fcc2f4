"""``promoter serve``: the webhook receiver of :mod:`promoter.serve`, wired to the flows.

Secrets come from environment variables named by flags (never from the command line); give a
flag twice to accept two secrets while rotating one::

    promoter serve --port 8080 --github-secret-env HOOK_SECRET --github-secret-env HOOK_SECRET_OLD

Each job opens the repository the way ``poll`` does (``--repo DIR`` or ``--clone URL``) and runs
one flow: a comment command, a promotion after a branch moved, or a poll of just the pushed image.
SIGTERM (or Ctrl-C) stops taking deliveries and lets queued jobs finish within ``--grace``.

With ``--queue redis://HOST:PORT/DB`` serve only receives: jobs go to Redis and ``promoter
worker`` processes (any number, on any host) run them (:mod:`promoter.queue`).
``GET /metrics`` on the same port serves the Prometheus metrics of :mod:`promoter.metrics`; log
lines carry timestamps (``--log-format json`` for one JSON object per line).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from promoter import logs, secrets, wiring
from promoter.cli.comment_cmd import command_ports, repository_of, run_comment
from promoter.cli.fleet import member_session, resolve, serve_fleet_options, single
from promoter.cli.poll_cmds import session
from promoter.config import Config
from promoter.errors import RETRY, InputError, Problem, PromoterError, RetryableError, exit_code
from promoter.fleet import Member
from promoter.gitrepo import GitWorkspace
from promoter.metrics import Metrics
from promoter.refs import ImageRef
from promoter.serve import MAX_BODY, Dispatcher, Job, JobKind, JobSink, Receiver, Secrets, start

if TYPE_CHECKING:
    from promoter.queue import RedisQueue

log = logging.getLogger(__name__)


def read_secrets(environ: dict[str, str], names: Sequence[str], flag: str) -> tuple[str, ...]:
    out = []
    for name in names:
        value = environ.get(name)
        if not value:
            raise InputError(f"{flag} {name}: the environment variable is not set")
        secrets.register(value)
        out.append(value)
    return tuple(out)


def matching_images(cfg: Config, pushed: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The config names of the images a registry event is about."""
    names: set[str] = set()
    for ref_text, _ in pushed:
        try:
            ref = ImageRef.parse(ref_text)
        except PromoterError:
            continue
        names.update(i.name for i in cfg.images if i.repository.name == ref.name)
    return tuple(sorted(names))


def _same_repo(cfg: Config, repo: str) -> bool:
    configured = repository_of(cfg)
    return not repo or not configured or configured.isdigit() or \
        configured.lower() == repo.lower()


def _again_if_remote(problems: tuple[Problem, ...]) -> None:
    """Raise :class:`RetryableError` when every problem a flow met was a remote that did not
    answer: the job failed as a whole and running it again may succeed (the queue retries
    it with a backoff)."""
    if problems and exit_code(problems) == RETRY:
        raise RetryableError(f"{len(problems)} problem(s), every one retryable: {problems[0]}")


def run_job(cfg: Config, ws: GitWorkspace, job: Job, metrics: Metrics | None = None) -> None:
    """Run one job on an opened repository: a comment command, a ticked dashboard box, a
    promotion after a branch moved, or a poll of the pushed images this repository has."""
    from promoter.flows import dashboard
    from promoter.flows.poll import poll
    from promoter.flows.promote import promote

    forge = wiring.forge(cfg, dict(os.environ))
    if job.kind is JobKind.COMMENT and job.comment is not None and forge is not None:
        report = run_comment(cfg, ws, forge, job.comment)
        log.info("delivery=%s comment outcome=%s", job.delivery, report.outcome.value)
    elif job.kind is JobKind.DASHBOARD and job.edit is not None and forge is not None:
        edited = dashboard.on_edit(job.edit, cfg, command_ports(cfg, ws, forge))
        log.info("delivery=%s dashboard outcome=%s", job.delivery, edited.outcome.value)
    elif job.kind is JobKind.POLL:
        names = matching_images(cfg, job.images)
        if names:
            reg = wiring.registry(cfg, dict(os.environ))
            reg.observer = metrics.registry_request if metrics else None
            result = poll(cfg, ws, reg, forge, images=names)
            dashboard.refresh(cfg, forge, result)
            if metrics:
                metrics.poll_done(len(names), (r.action for r in result.results),
                                  len(result.errors))
            log.info("delivery=%s poll images=%s ok=%s", job.delivery, names, result.ok)
            _again_if_remote(result.problems)
    elif job.kind is JobKind.PROMOTE and job.branch in {e.branch for e in cfg.environments}:
        when = datetime.now(UTC)
        done = promote(cfg, ws, forge, now=when, signatures=wiring.signature_checks(
            cfg, ws, dict(os.environ), now=when), argocd=wiring.argocd(cfg, dict(os.environ)))
        dashboard.refresh(cfg, forge, done)
        if metrics:
            metrics.poll_done(0, (r.action for r in done.results), len(done.errors))
        log.info("delivery=%s promote ok=%s", job.delivery, not done.errors)
        _again_if_remote(done.problems)


def make_runner(repo: str | None, clone: str | None, config: str | None,
                metrics: Metrics | None = None) -> Callable[[Job], None]:
    """The function that runs one job against the configured repository."""
    def run(job: Job) -> None:
        with session(repo, clone, config) as (cfg, ws):
            if not _same_repo(cfg, job.repo):
                log.info("delivery=%s is for %s, not this repository; ignored", job.delivery,
                         job.repo)
                return
            run_job(cfg, ws, job, metrics)

    return run


def make_fleet_runner(members: Sequence[Member], metrics: Metrics | None = None
                      ) -> Callable[[Job], None]:
    """The function that runs one job on the fleet member it is about (by name, as the forge
    names the repository: ``owner/name``, a GitLab project path), or, for a registry event,
    on every member that has the pushed image, one after another; a member's failure is
    logged and the next one runs. Jobs of one member never run at once in this process
    (``promoter worker`` splits registry events into one job per member, each under that
    member's Redis lock)."""
    by_name = {m.name.lower(): m for m in members}
    locks = {m.name: threading.Lock() for m in members}

    def one(member: Member, job: Job) -> None:
        with locks[member.name], member_session(member) as (cfg, ws):
            run_job(cfg, ws, job, metrics)

    def run(job: Job) -> None:
        if job.repo:
            member = by_name.get(job.repo.lower())
            if member is None:
                log.info("delivery=%s is for %s, not a repository of the fleet; ignored",
                         job.delivery, job.repo)
                return
            one(member, job)  # its error is the job's: the queue retries a retryable one
            return
        failed: list[tuple[str, PromoterError]] = []
        for m in members:  # a registry event: every member, none stopping the next
            try:
                one(m, job)
            except PromoterError as e:
                log.warning("delivery=%s repository=%s: %s", job.delivery, m.name,
                            secrets.redact(str(e)))
                failed.append((m.name, e))
        if failed:
            names = ", ".join(n for n, _ in failed)
            if all(e.retryable for _, e in failed):
                raise RetryableError(f"the job failed in {names}")
            raise PromoterError(f"the job failed in {names}")

    return run


def runner_for(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
               fleet: str | None, metrics: Metrics | None, name: str
               ) -> tuple[Callable[[Job], None], Callable[[Job], str]]:
    """The job runner of ``--repo``/``--clone``/``--fleet`` and the key jobs that must not
    run at once share."""
    found = resolve(repo, clone, config, fleet)
    if found is None:
        # every job works on the one configured repository (with --repo, on one checkout),
        # and registry events name no repository: one key for all, one job at a time
        return make_runner(*single(repo, clone), config, metrics), _one_key
    for where, problem in found.problems:
        click.echo(f"promoter {name}: {where}: {problem}", err=True)
    click.echo(f"promoter {name}: {len(found.fleet.members)} repositories", err=True)
    return make_fleet_runner(found.fleet.members, metrics), _by_repository


def _one_key(job: Job) -> str:
    return "repository"


def _by_repository(job: Job) -> str:
    """Jobs of one repository in order; registry events (every repository) among themselves."""
    return job.repo.lower() or "registry"


@click.command("serve")
@serve_fleet_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--github-secret-env", "github", multiple=True, metavar="VAR",
              help="Variable holding a GitHub webhook secret (repeat to accept several).")
@click.option("--gitlab-token-env", "gitlab", multiple=True, metavar="VAR",
              help="Variable holding a GitLab webhook secret token (X-Gitlab-Token).")
@click.option("--gitlab-signing-token-env", "gitlab_signing", multiple=True, metavar="VAR",
              help="Variable holding a GitLab webhook signing token (whsec_...).")
@click.option("--registry-token-env", "registry", multiple=True, metavar="VAR",
              help="Variable holding the token registry notifications must send "
                   "(Authorization header, or ?token= for Docker Hub).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker threads (jobs of the one repository still run one at a time); "
                   "with --queue, `promoter worker` runs the jobs instead.")
@click.option("--max-queue", type=click.IntRange(1), default=1000, show_default=True,
              help="Jobs waiting at most; more are answered 503.")
@click.option("--max-body", type=click.IntRange(1), default=MAX_BODY, show_default=True,
              help="Largest request body in bytes; larger ones are answered 413.")
@click.option("--grace", type=float, default=30.0, show_default=True,
              help="Seconds queued jobs may take to finish after SIGTERM.")
@click.option("--queue", "queue_url", default=None, metavar="redis://HOST:PORT/DB",
              envvar="PROMOTER_QUEUE",
              help="Enqueue jobs into Redis for `promoter worker` instead of running them.")
@click.option("--dedup-ttl", type=click.IntRange(1), default=86_400, show_default=True,
              help="With --queue: seconds a delivery id is remembered (redeliveries within "
                   "it are duplicates).")
def serve(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
          fleet: str | None, host: str, port: int,
          github: tuple[str, ...], gitlab: tuple[str, ...], gitlab_signing: tuple[str, ...],
          registry: tuple[str, ...], workers: int, max_queue: int, max_body: int,
          grace: float, queue_url: str | None, dedup_ttl: int) -> int:
    """Receive GitHub, GitLab and registry webhooks and run comment commands, promotions and
    polls of pushed images.

    \b
    Endpoints:
      POST /webhooks/github    X-Hub-Signature-256; issue_comment, issues edited (the
                               dashboard's boxes), merged pull_request, push, GHCR
                               registry_package
      POST /webhooks/gitlab    X-Gitlab-Token or webhook-signature; Note Hook, Issue Hook
                               (the dashboard's boxes), merged Merge Request Hook, Push Hook
      POST /webhooks/registry  a shared token (Authorization: Bearer, or ?token=);
                               distribution, Docker Hub and Harbor push notifications
      GET  /healthz            {"status": "ok", "queued": N, "running": N, ...}
      GET  /metrics            Prometheus text format

    A verified delivery is answered 202 and queued; a redelivery is 200 duplicate; a full
    queue is 503 with Retry-After; a body over --max-body is 413.

    With --fleet (or --repo/--clone more than once) a delivery runs on the fleet repository
    it names, a registry push on every repository with the image; jobs of different
    repositories run side by side on the workers.

    With --queue, jobs are enqueued into Redis and `promoter worker` runs them; delivery
    de-duplication is shared by every replica and /healthz answers 503 while Redis does not.
    """
    environ = dict(os.environ)
    keys = Secrets(github=read_secrets(environ, github, "--github-secret-env"),
                   gitlab=read_secrets(environ, gitlab, "--gitlab-token-env"),
                   gitlab_signing=read_secrets(environ, gitlab_signing,
                                               "--gitlab-signing-token-env"),
                   registry=read_secrets(environ, registry, "--registry-token-env"))
    if not (keys.github or keys.gitlab or keys.gitlab_signing or keys.registry):
        raise InputError("no webhook secret configured (--github-secret-env, "
                         "--gitlab-token-env, ...): an open receiver would run anyone's commands")
    logs.service(bool((click.get_current_context().find_root().obj or {}).get("debug")))
    metrics = Metrics()
    dispatcher: JobSink
    if queue_url:
        sink = redis_queue(queue_url, dedup_ttl=dedup_ttl, max_queued=max_queue)
        receiver = Receiver(secrets=keys, dispatcher=sink, deliveries=sink.deliveries,
                            metrics=metrics)
        dispatcher = sink
    else:
        runner, key = runner_for(repo, clone, config, fleet, metrics, "serve")
        dispatcher = Dispatcher(runner, workers=workers, max_queued=max_queue, key=key,
                                done=lambda job, ok: metrics.run(job.kind.value, ok,
                                                                 where="job"))
        receiver = Receiver(secrets=keys, dispatcher=dispatcher, metrics=metrics)
    running = start(receiver, host, port, max_body=max_body)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"promoter serve: listening on {running.server.url}", err=True)
    while not stop.wait(0.5):
        pass
    click.echo("promoter serve: stopping; finishing queued jobs", err=True)
    drained = running.stop(timeout=grace)
    if not drained:
        click.echo(f"promoter serve: {dispatcher.queued} job(s) left unfinished", err=True)
    return 0 if drained else 1


def redis_queue(url: str, *, dedup_ttl: int, max_queued: int) -> RedisQueue:
    """The Redis sink of ``--queue``; an :class:`InputError` when the URL is wrong or the
    ``queue`` extra is not installed."""
    try:
        from promoter.queue import RedisQueue, check_url
    except ImportError as e:
        raise InputError(f"--queue needs the queue extra (pip install "
                         f"'gitops-promoter[queue]'): {e.name} is not installed") from None
    return RedisQueue(check_url(url), dedup_ttl=dedup_ttl, max_queued=max_queued)
