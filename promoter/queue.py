"""The Redis queue of ``promoter serve --queue`` and ``promoter worker``: the receiver enqueues,
any number of worker processes run, and every guarantee lives in Redis, not process memory.

::

    serve --queue redis://H:P/DB          worker --queue redis://H:P/DB  (xN, any host)
      verify, parse                         take a message (dramatiq, Redis broker)
      SET promoter:delivery:<src>:<id>      SET promoter:lock:<repo> NX PX <lease>
          NX EX <ttl>  -> 200 duplicate       held -> send again with a delay, done
      enqueue (dramatiq message)            run the job, renewing the lease
                                            release (compare-and-delete)

- **De-duplication.** A delivery id is remembered per source with ``SET NX EX`` before its
  job is enqueued, so a redelivered webhook is answered ``200 duplicate`` by any receiver
  replica, for ``dedup_ttl`` seconds (a day by default: GitHub redelivers within hours).
- **One job per repository at a time, across all workers.** A worker takes the repository's
  lock (``SET NX PX``) before running a job and renews the lease every third of it while the
  job runs; a worker that dies stops renewing and the lock expires after one lease. A job that
  finds the lock held is sent again with a delay (:data:`BUSY_DELAY_MS`, jittered): it is
  neither dropped nor spun on.
- **Retries.** A job that raised a retryable error (:class:`promoter.errors.RetryableError`,
  or a connection error) runs again after an exponential backoff (``min_backoff`` doubling,
  at most ``max_backoff``), at most ``max_retries`` times; an input error is not retried. A
  job out of retries goes to the dead-letter queue (dramatiq's ``<queue>.XQ``, kept a week)
  with one ``dead-letter`` log line.
- **Nothing lost on a kill.** dramatiq's Redis broker keeps a message in the worker's ack set
  until the job ended; a worker that stops sending heartbeats for ``heartbeat_timeout`` is
  dead and the other workers put its messages back on the queue.
- **Run exactly once, as far as anyone can see.** A job redelivered after a kill may run a
  second time (the first run may have got halfway). That is safe because every job is
  idempotent: a promotion's branch name is deterministic and its pull request is found and
  updated in place, a comment command is answered once per comment id. The de-dup key keeps a
  redelivered *webhook* from running a job twice.

dramatiq over rq: its Redis broker acknowledges messages and requeues those of dead workers
by heartbeat (rq marks such jobs abandoned and leaves the retry to us), it runs jobs on
threads of one process (rq forks per job), and retries with backoff and the dead-letter
queue are built in.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import redis
from dramatiq.broker import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware, Retries

from promoter.errors import InputError, RetryableError
from promoter.secrets import redact
from promoter.serve import Stats, Unavailable
from promoter.webhooks import Job, job_from_json, job_to_json

__all__ = ["BUSY_DELAY_MS", "JobFailed", "RedisDeliveries", "RedisQueue", "RepoLock",
           "Tuning", "check_url", "work"]

log = logging.getLogger(__name__)

NAMESPACE = "promoter"  # every key: promoter:delivery:*, promoter:lock:*, promoter:jobs...
QUEUE = "jobs"
ACTOR = "promoter_job"
BUSY_DELAY_MS = 500  # a job whose repository is locked waits this long (plus jitter)


def check_url(url: str, flag: str = "--queue") -> str:
    """``url`` when it is ``redis://[:password@]host[:port][/db]`` (or ``rediss://``), else an
    :class:`InputError` saying what is wrong (and never the password)."""
    parts = urlsplit(url)
    shown = _shown(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise InputError(f"{flag} {shown}: not a redis:// URL")
    if parts.scheme != "unix" and not parts.hostname:
        raise InputError(f"{flag} {shown}: the URL names no host")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise InputError(f"{flag} {shown}: the database must be a number, not {db!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        raise InputError(f"{flag} {shown}: the port is not a number") from None
    return url


def _shown(url: str) -> str:
    """``url`` without its password."""
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else redact(url)


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tuning:
    """The timings of the queue; the defaults suit production, tests shorten them."""

    heartbeat_timeout_ms: int = 60_000  # a worker silent this long is dead: requeue its jobs
    lease_ms: int = 30_000  # a repository lock lives this long unless renewed
    busy_delay_ms: int = BUSY_DELAY_MS
    max_retries: int = 5
    min_backoff_ms: int = 5_000
    max_backoff_ms: int = 300_000
    poll_ms: int = 200  # how long an idle worker waits between fetches (its heartbeat)


def _broker(conn: redis.Redis, tuning: Tuning) -> RedisBroker:
    retries = Retries(max_retries=tuning.max_retries, min_backoff=tuning.min_backoff_ms,
                      max_backoff=tuning.max_backoff_ms,
                      retry_when=lambda n, e: n < tuning.max_retries and _retryable(e))
    # maintenance_chance: a dead worker's messages come back within a few fetches of the others
    return RedisBroker(  # type: ignore[no-untyped-call]
        client=conn, namespace=NAMESPACE, middleware=[retries, _DeadLetters()],
        heartbeat_timeout=tuning.heartbeat_timeout_ms, maintenance_chance=50_000)


def _retryable(error: BaseException) -> bool:
    return getattr(error, "retryable", False) is True or isinstance(
        error, (redis.ConnectionError, ConnectionError, TimeoutError))


class JobFailed(Exception):
    """What the broker sees of a failed job: the redacted one-line message (no traceback of
    our frames, no secret), and whether running again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _DeadLetters(Middleware):
    def after_nack(self, broker: Broker, message: Any) -> None:
        doc = message.args[0] if message.args else {}
        log.error("dead-letter: delivery=%s source=%s repo=%s after %d run(s): %s",
                  doc.get("delivery"), doc.get("source"), doc.get("repo"),
                  message.options.get("retries", 0), _last_line(message.options))

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        self.after_nack(broker, message)


def _last_line(options: dict[str, Any]) -> str:
    trace = str(options.get("traceback") or "").strip().splitlines()
    return redact(trace[-1]) if trace else "failed"


Handler = Callable[[dict[str, Any]], None]


def _declare(broker: RedisBroker, fn: Handler) -> dramatiq.Actor[[dict[str, Any]], None]:
    return dramatiq.Actor(fn, broker=broker, actor_name=ACTOR, queue_name=QUEUE, priority=0,
                          options={})


def _key(prefix: str, *parts: str) -> str:
    """A bounded key for untrusted parts (delivery ids and repository names come from
    webhooks): their hash, so no id is too long or holds a ``:``."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"{NAMESPACE}:{prefix}:{digest}"


# --- the receiving side -----------------------------------------------------------------------

class RedisDeliveries:
    """:class:`promoter.serve.Deliveries` in Redis: ``SET NX EX`` per (source, delivery id),
    shared by every receiver replica."""

    def __init__(self, conn: redis.Redis, *, ttl: int = 86_400) -> None:
        self.conn = conn
        self.ttl = ttl

    def first_time(self, source: str, delivery: str) -> bool:
        try:
            return bool(self.conn.set(_key("delivery", source, delivery), "1", nx=True,
                                      ex=self.ttl))
        except redis.RedisError as e:
            raise Unavailable(f"the queue is unreachable: {type(e).__name__}") from None

    def forget(self, source: str, delivery: str) -> None:
        try:
            self.conn.delete(_key("delivery", source, delivery))
        except redis.RedisError:
            pass  # the key expires; a redelivery within its ttl is then a duplicate


class RedisQueue:
    """The receiver's sink in queue mode (the :class:`promoter.serve.Dispatcher` seat): jobs
    become dramatiq messages, run by ``promoter worker`` processes."""

    def __init__(self, url: str, *, tuning: Tuning = Tuning(), dedup_ttl: int = 86_400,
                 max_queued: int = 100_000) -> None:
        self.conn = client(url)
        self.broker = _broker(self.conn, tuning)
        self.actor = _declare(self.broker, lambda doc: None)  # sends only
        self.deliveries = RedisDeliveries(self.conn, ttl=dedup_ttl)
        self.max_queued = max_queued
        self.stats = Stats()

    def submit(self, job: Job) -> bool:
        if self.queued >= self.max_queued:
            self.stats.full += 1
            return False
        try:
            self.actor.send(job_to_json(job))
        except redis.RedisError as e:
            raise Unavailable(f"the queue is unreachable: {type(e).__name__}") from None
        self.stats.queued += 1
        return True

    @property
    def queued(self) -> int:
        """Messages waiting (not yet taken by a worker); 0 when Redis does not answer."""
        try:
            return int(self.conn.llen(f"{NAMESPACE}:{QUEUE}"))
        except redis.RedisError:
            return 0

    @property
    def running(self) -> int:
        return 0  # the workers know; the receiver runs nothing

    def health(self) -> dict[str, Any]:
        try:
            self.conn.ping()
        except redis.RedisError as e:
            return {"status": "unavailable", "queue": "redis", "queue_reachable": False,
                    "queue_error": type(e).__name__}
        return {"queue": "redis", "queue_reachable": True}

    def close(self, *, timeout: float = 30.0) -> bool:
        self.broker.close()
        return True


# --- the working side -------------------------------------------------------------------------

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
         "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
           "return redis.call('del', KEYS[1]) else return 0 end"


class RepoLock:
    """One holder at a time per repository key, across processes: ``SET NX PX lease``, renewed
    by a thread every third of the lease while held, released only by its holder."""

    def __init__(self, conn: redis.Redis, *, lease_ms: int = 30_000) -> None:
        self.conn = conn
        self.lease_ms = lease_ms
        self._renew = conn.register_script(_RENEW)
        self._release = conn.register_script(_RELEASE)

    @contextmanager
    def held(self, repo: str) -> Iterator[bool]:
        """Yields True with the lock held (renewed until the block ends), False when another
        holder has it."""
        key, token = _key("lock", repo), uuid.uuid4().hex
        if not self.conn.set(key, token, nx=True, px=self.lease_ms):
            yield False
            return
        stop = threading.Event()
        renewer = threading.Thread(target=self._keep, args=(key, token, stop), daemon=True,
                                   name="promoter-lease")
        renewer.start()
        try:
            yield True
        finally:
            stop.set()
            renewer.join()
            try:
                self._release(keys=[key], args=[token])
            except redis.RedisError:
                log.warning("could not release the lock of %s; it expires by itself", repo)

    def _keep(self, key: str, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_ms / 3000):
            try:
                if not self._renew(keys=[key], args=[token, self.lease_ms]):
                    log.warning("lost a repository lock (lease expired while running)")
                    return
            except redis.RedisError as e:
                log.warning("could not renew a repository lock: %s", type(e).__name__)


class _NoTraceOfJobFailed(logging.Filter):
    """dramatiq logs every failed message with a traceback; a :class:`JobFailed` was logged
    as one line already (redacted), and its traceback shows nothing but this module."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], JobFailed))


def _quiet_failures() -> None:
    target = logging.getLogger("dramatiq.worker.WorkerThread")
    if not any(isinstance(f, _NoTraceOfJobFailed) for f in target.filters):
        target.addFilter(_NoTraceOfJobFailed())


def work(url: str, run: Callable[[Job], None], *, stop: threading.Event,
         concurrency: int = 2, key: Callable[[Job], str] = lambda job: job.repo,
         tuning: Tuning = Tuning(), ready: Callable[[], None] = lambda: None,
         split: Callable[[Job], Sequence[Job]] = lambda job: ()) -> None:
    """Run jobs from the queue at ``url`` on ``concurrency`` threads until ``stop`` is set;
    then the running jobs finish and the prefetched messages go back to the queue. Jobs with
    the same ``key`` never run at the same time on any worker. A job ``split`` turns into
    others (a registry event of a fleet: one job per repository) is not run: those are
    enqueued in its place, each under its own key."""
    conn = client(url)
    try:
        conn.ping()
    except redis.RedisError as e:
        raise RetryableError(f"the queue {_shown(url)} does not answer: "
                             f"{redact(str(e))}") from None
    broker = _broker(conn, tuning)
    lock = RepoLock(conn, lease_ms=tuning.lease_ms)
    actor: dramatiq.Actor[[dict[str, Any]], None]

    def job_message(doc: dict[str, Any]) -> None:
        try:
            job = job_from_json(doc)
        except InputError as e:
            raise JobFailed(f"not a promoter job: {e}", retryable=False) from None
        parts = split(job)
        if parts:
            for part in parts:
                actor.send(job_to_json(part))
            log.info("delivery=%s: split into %d jobs", job.delivery, len(parts))
            return
        with lock.held(key(job)) as mine:
            if not mine:
                delay = tuning.busy_delay_ms + random.randint(0, tuning.busy_delay_ms)
                actor.send_with_options(args=(doc,), delay=delay)
                log.debug("delivery=%s: its repository is busy; again in %d ms",
                          job.delivery, delay)
                return
            try:
                run(job)
            except Exception as e:
                line = redact(f"{type(e).__name__}: {e}")
                log.warning("job failed: kind=%s delivery=%s: %s", job.kind.value,
                            job.delivery, line)
                raise JobFailed(line, retryable=_retryable(e)) from None

    actor = _declare(broker, job_message)
    _quiet_failures()
    worker = dramatiq.Worker(broker, worker_threads=concurrency, worker_timeout=tuning.poll_ms)
    worker.start()
    ready()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        worker.stop()
        broker.close()


def wait_idle(url: str, *, timeout: float = 60.0) -> bool:
    """Whether every message of the queue at ``url`` was taken and acknowledged within
    ``timeout`` (tests and the benchmark): nothing waiting, delayed, or held by a worker."""
    conn = client(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.llen(f"{NAMESPACE}:{QUEUE}") + conn.llen(f"{NAMESPACE}:{QUEUE}.DQ")
        held = sum(int(conn.scard(k)) for k in conn.scan_iter(f"{NAMESPACE}:__acks__.*"))
        if waiting == 0 and held == 0:
            return True
        time.sleep(0.05)
    return False
