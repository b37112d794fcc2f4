"""``promoter serve``: a webhook receiver that turns forge and registry events into jobs.

::

    POST /webhooks/github    X-Hub-Signature-256 (HMAC-SHA256 of the body), X-GitHub-Delivery
    POST /webhooks/gitlab    X-Gitlab-Token, or GitLab's signed webhooks (webhook-signature)
    POST /webhooks/registry  Docker Hub, Harbor, distribution notifications (a shared token)
    GET  /healthz            {"status": "ok", "queued": N, "running": N, ...}
                             (--queue: "queue": "redis", "queue_reachable": true; 503 and
                             "status": "unavailable" while Redis does not answer)
    GET  /metrics            Prometheus text format (:mod:`promoter.metrics`)

A delivery is verified (every configured secret is tried, in constant time, so secrets rotate
without downtime), parsed into a :class:`~promoter.webhooks.Job` (:mod:`promoter.webhooks`) and
queued; the answer comes at once (``202``), the work happens on worker threads. Redeliveries
(same ``X-GitHub-Delivery``, ``Idempotency-Key`` or ``webhook-id`` from the same source) are
answered ``200 duplicate`` and never run twice; ids are remembered per source, so a GitLab key
equal to a GitHub id is a delivery of its own, and the memory of deliveries is bounded. The
queue is bounded too (``503`` with ``Retry-After`` when full), jobs of one repository run one
at a time and in order, bodies over the size limit are ``413`` unread, and a malformed delivery
(bad JSON, JSON nested too deep to parse, a missing field) is a one-line ``4xx`` without a
stack trace.

HTTP is :class:`App`, a small ASGI application served by uvicorn (httptools parser, uvloop when
installed) on an event loop of its own thread (:func:`start`): verification and parsing are
microseconds of CPU and run on the loop; a body above :data:`OFFLOAD_BODY` is verified on a
thread so one large delivery never stalls the others.

Where jobs go is a :class:`JobSink`: the in-process :class:`Dispatcher` (the default), or
:class:`promoter.queue.RedisQueue` (``serve --queue``), which enqueues them into Redis for
``promoter worker`` processes and keeps the delivery de-duplication there (a :class:`Seen`)
so every replica shares it. A sink that cannot reach its queue raises :class:`Unavailable`:
the delivery is answered ``503`` and the sender delivers it again later.

What a job does is the caller's ``run`` function (:mod:`promoter.cli.serve_cmd` wires the
flows), so this module knows HTTP, secrets and queues only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import uvicorn

from promoter.metrics import CONTENT_TYPE as METRICS_TYPE
from promoter.metrics import Metrics
from promoter.secrets import redact
from promoter.webhooks import (
    Job,
    JobKind,
    Reject,
    github_job,
    github_package,
    gitlab_job,
    parse_json,
    registry_job,
    registry_pushes,
)

__all__ = ["App", "Deliveries", "Dispatcher", "Job", "JobKind", "JobSink", "Listener", "Receiver",
           "Reject", "Running", "Secrets", "Seen", "StatusApp", "Unavailable", "github_job",
           "github_package", "github_signature", "gitlab_job", "registry_pushes", "serve_asgi",
           "start", "verify_github", "verify_gitlab_signature"]

log = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; promoter needs far less
SIGNATURE_TOLERANCE = 300  # seconds a signed GitLab delivery's timestamp may be off
OFFLOAD_BODY = 256 * 1024  # bodies larger than this are verified and parsed off the loop
BODY_TIMEOUT = 10.0  # seconds a client may take to send its body


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """Accepted secrets per source; several at once while one is being rotated."""

    github: tuple[str, ...] = ()  # webhook secrets (HMAC keys)
    gitlab: tuple[str, ...] = ()  # X-Gitlab-Token values
    gitlab_signing: tuple[str, ...] = ()  # signing tokens "whsec_<base64>"
    registry: tuple[str, ...] = ()  # shared tokens for registry notifications


# --- verification (pure) ----------------------------------------------------------------------

def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github(secrets: tuple[str, ...], body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is the HMAC of ``body`` with any of ``secrets``."""
    if not header or not secrets:
        return False
    ok = False
    for s in secrets:  # every secret is tried, so timing says nothing about which matched
        ok |= hmac.compare_digest(github_signature(s, body).encode(), header.encode())
    return ok


def _token_matches(secrets: tuple[str, ...], given: str | None) -> bool:
    if given is None or not secrets:
        return False
    ok = False
    for s in secrets:
        ok |= hmac.compare_digest(s.encode(), given.encode())
    return ok


def verify_gitlab_signature(keys: tuple[str, ...], headers: Mapping[str, str], body: bytes,
                            *, now: float) -> bool:
    """GitLab signing tokens (Standard Webhooks): ``webhook-signature`` holds one or more
    ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``; the timestamp
    must be within :data:`SIGNATURE_TOLERANCE` of ``now``."""
    wid, ts, sigs = (headers.get(h) for h in ("webhook-id", "webhook-timestamp",
                                              "webhook-signature"))
    if not (wid and ts and sigs and keys):
        return False
    try:
        if abs(now - int(ts)) > SIGNATURE_TOLERANCE:
            return False
    except ValueError:
        return False
    given = [s.split(",", 1)[1] for s in sigs.split() if s.startswith("v1,")]
    ok = False
    for key in keys:
        try:
            raw = base64.b64decode(key.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            continue
        mac = base64.b64encode(hmac.new(raw, f"{wid}.{ts}.".encode() + body,
                                        hashlib.sha256).digest()).decode()
        for g in given:
            ok |= hmac.compare_digest(mac.encode(), g.encode())
    return ok


# --- the queue --------------------------------------------------------------------------------

class Unavailable(Exception):
    """The queue (Redis, in ``serve --queue``) cannot be reached: the delivery is answered
    ``503`` with ``Retry-After`` and the sender delivers it again."""


class Seen(Protocol):
    """Which deliveries were seen: :class:`Deliveries` in memory, or
    :class:`promoter.queue.RedisDeliveries` shared through Redis. May raise
    :class:`Unavailable`."""

    def first_time(self, source: str, delivery: str) -> bool:
        """True once per (source, delivery); False for every later call."""
        ...

    def forget(self, source: str, delivery: str) -> None:
        """Let (source, delivery) run again (its job could not be queued)."""
        ...


class JobSink(Protocol):
    """Where a receiver puts jobs: :class:`Dispatcher` runs them on threads of this process,
    :class:`promoter.queue.RedisQueue` enqueues them for ``promoter worker`` processes."""

    stats: Stats

    def submit(self, job: Job) -> bool:
        """Take ``job``; False when full (answered 503). May raise :class:`Unavailable`."""
        ...

    @property
    def queued(self) -> int: ...

    @property
    def running(self) -> int: ...

    def health(self) -> dict[str, Any]:
        """Fields ``/healthz`` adds; ``"status": "unavailable"`` makes it answer 503."""
        ...

    def close(self, *, timeout: float = 30.0) -> bool:
        """Stop taking jobs; True when none was left unfinished (or unsent)."""
        ...


class Deliveries:
    """The last ``size`` delivery ids seen, per source (bounded memory), thread-safe. Ids are
    only unique within one sender: GitHub's ``X-GitHub-Delivery`` and a GitLab
    ``Idempotency-Key`` that happen to be equal are two deliveries."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, source: str, delivery: str) -> bool:
        key = (source, delivery)
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True

    def forget(self, source: str, delivery: str) -> None:
        with self._lock:
            self._seen.pop((source, delivery), None)


@dataclass(slots=True)
class Stats:
    received: int = 0
    queued: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    done: int = 0
    failed: int = 0
    full: int = 0


class Dispatcher:
    """A bounded queue of jobs and ``workers`` threads; jobs with the same ``key`` (by default
    their repository) run one at a time, in arrival order. ``run(job)`` does the work; its
    exceptions are logged (redacted) and counted, never raised; ``done(job, ok)`` hears of
    each job that ended (the metrics)."""

    def __init__(self, run: Callable[[Job], None], *, workers: int = 4,
                 max_queued: int = 1000, key: Callable[[Job], str] = lambda job: job.repo,
                 done: Callable[[Job, bool], None] = lambda job, ok: None) -> None:
        self.run = run
        self.key = key
        self.done = done
        self.max_queued = max_queued
        self.stats = Stats()
        self._pending: dict[str, collections.deque[Job]] = {}
        self._ready: collections.deque[str] = collections.deque()  # repos with work, idle
        self._busy: set[str] = set()
        self._count = 0
        self._closing = False
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"promoter-worker-{i}",
                                          daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full or closing."""
        with self._cond:
            if self._closing or self._count >= self.max_queued:
                self.stats.full += 1
                return False
            k = self.key(job)
            q = self._pending.setdefault(k, collections.deque())
            q.append(job)
            self._count += 1
            self.stats.queued += 1
            if len(q) == 1 and k not in self._busy:
                self._ready.append(k)
                self._cond.notify()  # one worker, and only when there is work it may take
            return True

    @property
    def queued(self) -> int:
        return self._count

    @property
    def running(self) -> int:
        return len(self._busy)

    def health(self) -> dict[str, Any]:
        return {}  # in memory: nothing to reach

    def _take(self) -> Job | None:
        with self._cond:
            while not self._ready:
                if self._closing and self._count == 0:
                    return None
                self._cond.wait()
            k = self._ready.popleft()
            job = self._pending[k].popleft()
            self._busy.add(k)
            return job

    def _release(self, job: Job, ok: bool) -> None:
        k = self.key(job)
        with self._cond:
            self._busy.discard(k)
            self._count -= 1
            if ok:
                self.stats.done += 1
            else:
                self.stats.failed += 1
            if self._pending.get(k):
                self._ready.append(k)
                self._cond.notify()
            else:
                self._pending.pop(k, None)
            if self._count == 0:  # close() and idle workers of a closing dispatcher wait
                self._cond.notify_all()  # for this; waking every worker per job would not do

    def _work(self) -> None:
        while (job := self._take()) is not None:
            ok = True
            try:
                self.run(job)
            except Exception as e:  # one job never stops the server
                ok = False
                log.warning("job failed: kind=%s delivery=%s: %s", job.kind.value, job.delivery,
                            redact(f"{type(e).__name__}: {e}"))
            self.done(job, ok)  # before the release: an idle dispatcher has counted every job
            self._release(job, ok)

    def close(self, *, timeout: float = 30.0) -> bool:
        """Stop taking jobs, let the queued ones finish (up to ``timeout``); True if drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._count and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            drained = self._count == 0
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return drained


# --- receiving --------------------------------------------------------------------------------

_SOURCES = {"/webhooks/github": "github", "/webhooks/gitlab": "gitlab",
            "/webhooks/registry": "registry"}


@dataclass(kw_only=True)
class Receiver:
    """Verification, de-duplication and parsing of deliveries: HTTP-free, so tests and the
    benchmark can call :meth:`receive` directly as well as through :class:`App`."""

    secrets: Secrets
    dispatcher: JobSink
    deliveries: Seen = field(default_factory=Deliveries)
    clock: Callable[[], float] = time.time
    metrics: Metrics | None = None

    def receive(self, path: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one POST."""
        url = urlsplit(path)
        status, doc, outcome = self._receive(url, headers, body)
        if self.metrics is not None:
            self.metrics.delivery(_SOURCES.get(url.path, "unknown"), outcome)
        return status, doc

    def _receive(self, url: Any, headers: Mapping[str, str], body: bytes
                 ) -> tuple[int, dict[str, Any], str]:
        stats = self.dispatcher.stats
        stats.received += 1
        try:
            delivery, job = self._parse(url, headers, body)
        except Reject as e:
            stats.rejected += 1
            return e.status, {"error": str(e)}, "rejected"
        except (AttributeError, TypeError, KeyError, ValueError) as e:  # a shape we missed
            stats.rejected += 1
            log.info("malformed delivery: %s", redact(f"{type(e).__name__}: {e}"))
            return 400, {"error": "the payload does not have the expected shape"}, "rejected"
        if job is None:
            stats.ignored += 1
            return 200, {"status": "ignored", "delivery": delivery}, "ignored"
        try:
            if not self.deliveries.first_time(job.source, delivery):
                stats.duplicates += 1
                return 200, {"status": "duplicate", "delivery": delivery}, "duplicate"
            if not self.dispatcher.submit(job):
                self.deliveries.forget(job.source, delivery)  # a redelivery later may run it
                return 503, {"error": "the queue is full; deliver again later"}, "full"
        except Unavailable as e:
            self.deliveries.forget(job.source, delivery)
            log.warning("delivery=%s not queued: %s", delivery, e)
            return 503, {"error": "the queue is unreachable; deliver again later"}, "unavailable"
        return 202, {"status": "queued", "delivery": delivery, "kind": job.kind.value}, "queued"

    def _parse(self, url: Any, headers: Mapping[str, str], body: bytes
               ) -> tuple[str, Job | None]:
        ctype = headers.get("content-type", "application/json")
        if url.path == "/webhooks/github":
            if not verify_github(self.secrets.github, body, headers.get("x-hub-signature-256")):
                raise Reject(401, "signature does not match")
            delivery = headers.get("x-github-delivery") or ""
            event = headers.get("x-github-event") or ""
            if not delivery or not event:
                raise Reject(400, "X-GitHub-Delivery and X-GitHub-Event are required")
            return delivery, github_job(event, delivery, parse_json(body, ctype))
        if url.path == "/webhooks/gitlab":
            signed = "webhook-signature" in headers and self.secrets.gitlab_signing
            ok = verify_gitlab_signature(self.secrets.gitlab_signing, headers, body,
                                         now=self.clock()) if signed else \
                _token_matches(self.secrets.gitlab, headers.get("x-gitlab-token"))
            if not ok:
                raise Reject(401, "token or signature does not match")
            delivery = (headers.get("idempotency-key") or headers.get("webhook-id")
                        or headers.get("x-gitlab-event-uuid") or "")
            if not delivery:
                raise Reject(400, "Idempotency-Key (or X-Gitlab-Event-UUID) is required")
            return delivery, gitlab_job(headers.get("x-gitlab-event") or "", delivery,
                                        parse_json(body, ctype))
        if url.path == "/webhooks/registry":
            auth = headers.get("authorization") or ""
            token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
            token = token or (parse_qs(url.query).get("token") or [""])[0]
            if not _token_matches(self.secrets.registry, token or None):
                raise Reject(401, "token does not match")
            delivery = headers.get("x-delivery-id") or hashlib.sha256(body).hexdigest()
            return delivery, registry_job(delivery, parse_json(body, ctype))
        raise Reject(404, "no such endpoint")

    def health(self) -> dict[str, Any]:
        s = self.dispatcher.stats
        return {"status": "ok", "queued": self.dispatcher.queued,
                "running": self.dispatcher.running, "received": s.received, "done": s.done,
                "failed": s.failed, "duplicates": s.duplicates, "rejected": s.rejected,
                **self.dispatcher.health()}


# --- HTTP (ASGI) ------------------------------------------------------------------------------

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _TooSlow(Exception):
    pass


async def answer(send: Send, status: int, body: bytes, *,
                 content_type: str = "application/json",
                 extra: Mapping[str, str] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_json(send: Send, status: int, doc: Mapping[str, Any],
                      extra: Mapping[str, str] | None = None) -> None:
    await answer(send, status, json.dumps(doc).encode() + b"\n", extra=extra)


async def read_body(receive: Receive, *, timeout: float) -> bytes:
    """The request body, whole within ``timeout`` seconds (uvicorn holds it to the
    Content-Length the caller checked)."""
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _TooSlow
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise _TooSlow from None
    return b"".join(chunks)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def status_get(path: str, send: Send, health: Callable[[], Mapping[str, Any]],
                     metrics: Metrics | None) -> None:
    """``GET /healthz`` (and ``/health``) and ``GET /metrics``; 404 for anything else."""
    if path in ("/healthz", "/health"):
        doc = health()
        await answer_json(send, 503 if doc.get("status") == "unavailable" else 200, doc)
    elif path == "/metrics" and metrics is not None:
        await answer(send, 200, metrics.render(), content_type=METRICS_TYPE)
    else:
        await answer_json(send, 404, {"error": "no such endpoint"})


@dataclass(kw_only=True)
class StatusApp:
    """The ASGI application of ``promoter watch --listen``: ``/healthz`` and ``/metrics``."""

    health: Callable[[], Mapping[str, Any]]
    metrics: Metrics | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            await status_get(scope["path"], send, self.health, self.metrics)
        elif scope["type"] == "http":
            await answer_json(send, 405, {"error": "method not allowed"})


@dataclass(kw_only=True)
class App:
    """The ASGI application: the webhook endpoints, ``/healthz`` and ``/metrics``."""

    receiver: Receiver
    max_body: int = MAX_BODY
    metrics: Metrics | None = None
    body_timeout: float = BODY_TIMEOUT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD"):
            await self._get(path, send)
        elif method == "POST":
            await self._post(scope, receive, send)
        else:
            await answer_json(send, 405, {"error": "method not allowed"})

    async def _get(self, path: str, send: Send) -> None:
        await status_get(path, send, self.receiver.health, self.metrics)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        close = {"connection": "close"}
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            await answer_json(send, 411, {"error": "Content-Length is required"}, close)
            return
        if length < 0 or length > self.max_body:  # answered before a byte of the body is read
            await answer_json(send, 413, {"error": f"body over {self.max_body} bytes"}, close)
            return
        try:
            body = await read_body(receive, timeout=self.body_timeout)
        except _TooSlow:
            await answer_json(send, 408, {"error": "the body did not arrive in time"}, close)
            return
        query = scope.get("query_string", b"")
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        try:
            if len(body) > OFFLOAD_BODY:
                status, doc = await asyncio.to_thread(self.receiver.receive, target, headers,
                                                      body)
            else:
                status, doc = self.receiver.receive(target, headers, body)
        except Exception as e:  # never a stack trace to the sender
            log.warning("delivery failed: %s", redact(f"{type(e).__name__}: {e}"))
            status, doc = 500, {"error": "internal error"}
        await answer_json(send, status, doc, {"retry-after": "30"} if status == 503 else None)


# --- running ----------------------------------------------------------------------------------

def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@dataclass
class Listener:
    """An ASGI app being served by uvicorn on a thread of its own."""

    server_address: tuple[str, int]
    thread: threading.Thread
    uvicorn: uvicorn.Server

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self, timeout: float = 30.0) -> None:
        """No new connections; answers in flight finish (up to ``timeout``)."""
        self.uvicorn.should_exit = True
        self.thread.join(timeout)


def serve_asgi(app: Any, host: str, port: int, *, name: str = "promoter-http") -> Listener:
    """Serve the ASGI ``app`` with uvicorn on an event loop in a thread of its own. The socket
    is bound before this returns (an address in use raises :class:`OSError` here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it an answer's second write waits for a delayed ACK (40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(app, http="httptools", loop=_loop(), lifespan="off",
                            log_config=None, access_log=False, server_header=False,
                            date_header=False, timeout_keep_alive=30,
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name,
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    bound = sock.getsockname()
    return Listener(server_address=(str(bound[0]), int(bound[1])), thread=thread,
                    uvicorn=server)


@dataclass
class Served:
    """What tests and the command see of a running receiver."""

    listener: Listener
    receiver: Receiver

    @property
    def server_address(self) -> tuple[str, int]:
        return self.listener.server_address

    @property
    def url(self) -> str:
        return self.listener.url


@dataclass
class Running:
    server: Served

    @property
    def app(self) -> App:
        app = self.server.listener.uvicorn.config.app
        assert isinstance(app, App)
        return app

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Graceful stop: no new connections, answers in flight finish, then the queued jobs
        finish (up to ``timeout``). True when every job ran."""
        self.server.listener.stop(timeout)
        return self.server.receiver.dispatcher.close(timeout=timeout)


def start(receiver: Receiver, host: str = "127.0.0.1", port: int = 0, *,
          max_body: int = MAX_BODY, metrics: Metrics | None = None) -> Running:
    """Serve in a background thread; stop with :meth:`Running.stop`."""
    metrics = metrics or receiver.metrics
    if metrics is not None:
        metrics.watch_queue(
            lambda: receiver.dispatcher.queued, lambda: receiver.dispatcher.running,
            lambda: receiver.dispatcher.health().get("status") != "unavailable")
    app = App(receiver=receiver, max_body=max_body, metrics=metrics)
    listener = serve_asgi(app, host, port, name="promoter-serve")
    return Running(server=Served(listener=listener, receiver=receiver))
