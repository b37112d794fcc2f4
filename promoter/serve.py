"""``promoter serve``: a webhook receiver that turns forge and registry events into jobs.

::

    POST /webhooks/github    X-Hub-Signature-256 (HMAC-SHA256 of the body), X-GitHub-Delivery
    POST /webhooks/gitlab    X-Gitlab-Token, or GitLab's signed webhooks (webhook-signature)
    POST /webhooks/registry  Docker Hub, Harbor, distribution notifications (a shared token)
    GET  /healthz            {"status": "ok", "queued": N, "running": N, ...}

A delivery is verified (every configured secret is tried, in constant time, so secrets rotate
without downtime), parsed into a :class:`Job` and queued; the answer comes at once (``202``),
the work happens on worker threads. Redeliveries (same ``X-GitHub-Delivery``,
``Idempotency-Key`` or ``webhook-id``) are answered ``200 duplicate`` and never run twice; the
memory of deliveries is bounded. The queue is bounded too (``503`` with ``Retry-After`` when
full), jobs of one repository run one at a time and in order, bodies over the size limit are
``413`` unread, and a malformed delivery is a one-line ``4xx`` without a stack trace.

Jobs (:class:`JobKind`): a comment command (GitHub ``issue_comment``, GitLab ``Note Hook``), a
promotion after a push or merge into a branch (GitHub ``push`` / ``pull_request`` closed and
merged, GitLab ``Push Hook`` / ``Merge Request Hook`` merge), and an immediate poll of just the
image a registry says was pushed (GitHub ``registry_package`` / ``package`` for GHCR, Docker Hub,
Harbor, and distribution's notification envelope). What a job does is the caller's ``run``
function (:mod:`promoter.cli.serve_cmd` wires the flows), so this module knows HTTP, secrets and
queues only.
"""

from __future__ import annotations

import base64
import binascii
import collections
import enum
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from promoter.errors import InputError
from promoter.flows.comment import CommentEvent, github_event, gitlab_note_event
from promoter.secrets import redact

log = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; promoter needs far less
SIGNATURE_TOLERANCE = 300  # seconds a signed GitLab delivery's timestamp may be off


class JobKind(enum.Enum):
    COMMENT = "comment"
    PROMOTE = "promote"  # a branch moved (push, merged PR/MR): promote from it
    POLL = "poll"  # a registry has a new tag: poll just that image


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    kind: JobKind
    delivery: str  # the delivery id (de-duplication key)
    source: str  # github, gitlab, registry
    repo: str = ""  # forge repository / project path ("" for registry events)
    comment: CommentEvent | None = None
    branch: str | None = None  # PROMOTE: the branch that moved
    images: tuple[tuple[str, str], ...] = ()  # POLL: (registry/repository, tag)


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """Accepted secrets per source; several at once while one is being rotated."""

    github: tuple[str, ...] = ()  # webhook secrets (HMAC keys)
    gitlab: tuple[str, ...] = ()  # X-Gitlab-Token values
    gitlab_signing: tuple[str, ...] = ()  # signing tokens "whsec_<base64>"
    registry: tuple[str, ...] = ()  # shared tokens for registry notifications


class Reject(Exception):
    """A delivery answered with ``status`` and a one-line ``message``; nothing runs."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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


# --- parsing deliveries into jobs (pure) ------------------------------------------------------

def _json(body: bytes, content_type: str) -> Any:
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
            return json.loads(form["payload"][0])
        return json.loads(body)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        raise Reject(400, "the body is not a JSON payload") from None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _at(doc: Any, path: str) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``; None when a step is missing or not an object (payloads
    are untrusted: any field may have any type)."""
    for key in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def github_job(event: str, delivery: str, payload: Any) -> Job | None:
    """The job for a GitHub delivery, or None when there is nothing to do."""
    if not isinstance(payload, dict):
        raise Reject(400, "the payload is not a JSON object")
    repo = _str(_at(payload, "repository.full_name"))
    if event == "issue_comment":
        try:
            comment = github_event(payload, what=f"issue_comment {delivery}")
        except InputError as e:
            raise Reject(400, str(e)) from None
        return Job(kind=JobKind.COMMENT, delivery=delivery, source="github", repo=repo,
                   comment=comment)
    if event == "pull_request":
        if payload.get("action") == "closed" and _at(payload, "pull_request.merged") is True:
            return Job(kind=JobKind.PROMOTE, delivery=delivery, source="github", repo=repo,
                       branch=_str(_at(payload, "pull_request.base.ref")))
        return None
    if event == "push":
        ref = _str(payload.get("ref"))
        if ref.startswith("refs/heads/") and not payload.get("deleted"):
            return Job(kind=JobKind.PROMOTE, delivery=delivery, source="github", repo=repo,
                       branch=ref.removeprefix("refs/heads/"))
        return None
    if event in ("registry_package", "package"):
        images = github_package(payload)
        return Job(kind=JobKind.POLL, delivery=delivery, source="github", repo=repo,
                   images=images) if images else None
    return None


def github_package(payload: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(image, tag) of a GHCR ``registry_package`` / ``package`` ``published`` event."""
    pkg = payload.get("registry_package") or payload.get("package")
    if payload.get("action") not in ("published", "updated") or not isinstance(pkg, dict):
        return ()
    if _str(pkg.get("package_type")).lower() not in ("container", "docker"):
        return ()
    tag = _str(_at(pkg, "package_version.container_metadata.tag.name"))
    url = _str(_at(pkg, "package_version.package_url"))
    if url and ":" in url.rsplit("/", 1)[-1]:
        image, _, url_tag = url.rpartition(":")
        tag = tag or url_tag
    else:
        owner = _str(pkg.get("namespace")) or _str(_at(pkg, "owner.login"))
        image = f"ghcr.io/{owner.lower()}/{_str(pkg.get('name'))}"
    return ((image, tag),) if tag and image else ()


def gitlab_job(event: str, delivery: str, payload: Any) -> Job | None:
    if not isinstance(payload, dict):
        raise Reject(400, "the payload is not a JSON object")
    project = _str(_at(payload, "project.path_with_namespace"))
    if event == "Note Hook":
        try:
            comment = gitlab_note_event(payload, what=f"Note Hook {delivery}")
        except InputError as e:
            raise Reject(400, str(e)) from None
        return Job(kind=JobKind.COMMENT, delivery=delivery, source="gitlab", repo=project,
                   comment=comment)
    if event == "Merge Request Hook":
        if _at(payload, "object_attributes.action") == "merge":
            return Job(kind=JobKind.PROMOTE, delivery=delivery, source="gitlab", repo=project,
                       branch=_str(_at(payload, "object_attributes.target_branch")))
        return None
    if event == "Push Hook":
        ref = _str(payload.get("ref"))
        if ref.startswith("refs/heads/") and _str(payload.get("after")).strip("0"):
            return Job(kind=JobKind.PROMOTE, delivery=delivery, source="gitlab", repo=project,
                       branch=ref.removeprefix("refs/heads/"))
    return None


def registry_pushes(payload: Any) -> tuple[tuple[str, str], ...]:
    """(image, tag) pairs a registry notification announces: distribution's envelope
    (``events[]`` with ``action: push``), Docker Hub (``push_data``) or Harbor
    (``type: PUSH_ARTIFACT``)."""
    out: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        return ()
    for ev in _list(payload.get("events")):
        repo, tag = _str(_at(ev, "target.repository")), _str(_at(ev, "target.tag"))
        if _at(ev, "action") == "push" and tag and repo:
            host = _str(_at(ev, "request.host"))
            out.append((f"{host}/{repo}" if host else repo, tag))
    hub_tag, name = _str(_at(payload, "push_data.tag")), _str(_at(payload, "repository.repo_name"))
    if hub_tag and name:
        out.append((f"docker.io/{name}", hub_tag))
    if _str(payload.get("type")).upper() == "PUSH_ARTIFACT":
        for res in _list(_at(payload, "event_data.resources")):
            url, tag = _str(_at(res, "resource_url")), _str(_at(res, "tag"))
            if url and tag:
                out.append((url.split("@")[0].removesuffix(f":{tag}"), tag))
    return tuple(dict.fromkeys((i, t) for i, t in out if i and t))


# --- the queue --------------------------------------------------------------------------------

class Deliveries:
    """The last ``size`` delivery ids seen (bounded memory), thread-safe."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery: str) -> bool:
        with self._lock:
            if delivery in self._seen:
                self._seen.move_to_end(delivery)
                return False
            self._seen[delivery] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True

    def forget(self, delivery: str) -> None:
        with self._lock:
            self._seen.pop(delivery, None)


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
    exceptions are logged (redacted) and counted, never raised."""

    def __init__(self, run: Callable[[Job], None], *, workers: int = 4,
                 max_queued: int = 1000, key: Callable[[Job], str] = lambda job: job.repo
                 ) -> None:
        self.run = run
        self.key = key
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
            if len(q) == 1 and k not in self._busy:
                self._ready.append(k)
            self._count += 1
            self.stats.queued += 1
            self._cond.notify()
            return True

    @property
    def queued(self) -> int:
        return self._count

    @property
    def running(self) -> int:
        return len(self._busy)

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
            else:
                self._pending.pop(k, None)
            self._cond.notify_all()

    def _work(self) -> None:
        while (job := self._take()) is not None:
            ok = True
            try:
                self.run(job)
            except Exception as e:  # one job never stops the server
                ok = False
                log.warning("job failed: kind=%s delivery=%s: %s", job.kind.value, job.delivery,
                            redact(f"{type(e).__name__}: {e}"))
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


# --- HTTP -------------------------------------------------------------------------------------

@dataclass(kw_only=True)
class Receiver:
    """Verification, de-duplication and parsing of deliveries: HTTP-free, so tests and the
    benchmark can call :meth:`receive` directly as well as through :class:`WebhookServer`."""

    secrets: Secrets
    dispatcher: Dispatcher
    deliveries: Deliveries = field(default_factory=Deliveries)
    clock: Callable[[], float] = time.time

    def receive(self, path: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one POST."""
        stats = self.dispatcher.stats
        stats.received += 1
        try:
            delivery, job = self._parse(urlsplit(path), headers, body)
        except Reject as e:
            stats.rejected += 1
            return e.status, {"error": str(e)}
        except (AttributeError, TypeError, KeyError, ValueError) as e:  # a shape we missed
            stats.rejected += 1
            log.info("malformed delivery: %s", redact(f"{type(e).__name__}: {e}"))
            return 400, {"error": "the payload does not have the expected shape"}
        if job is None:
            stats.ignored += 1
            return 200, {"status": "ignored", "delivery": delivery}
        if not self.deliveries.first_time(delivery):
            stats.duplicates += 1
            return 200, {"status": "duplicate", "delivery": delivery}
        if not self.dispatcher.submit(job):
            self.deliveries.forget(delivery)  # a redelivery later may run it
            return 503, {"error": "the queue is full; deliver again later"}
        return 202, {"status": "queued", "delivery": delivery, "kind": job.kind.value}

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
            return delivery, github_job(event, delivery, _json(body, ctype))
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
                                        _json(body, ctype))
        if url.path == "/webhooks/registry":
            auth = headers.get("authorization") or ""
            token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
            token = token or (parse_qs(url.query).get("token") or [""])[0]
            if not _token_matches(self.secrets.registry, token or None):
                raise Reject(401, "token does not match")
            images = registry_pushes(_json(body, ctype))
            delivery = headers.get("x-delivery-id") or hashlib.sha256(body).hexdigest()
            job = Job(kind=JobKind.POLL, delivery=f"registry:{delivery}", source="registry",
                      images=images) if images else None
            return delivery, job
        raise Reject(404, "no such endpoint")

    def health(self) -> dict[str, Any]:
        s = self.dispatcher.stats
        return {"status": "ok", "queued": self.dispatcher.queued,
                "running": self.dispatcher.running, "received": s.received, "done": s.done,
                "failed": s.failed, "duplicates": s.duplicates, "rejected": s.rejected}


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a client may take to send its request
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stall
    server_version = "promoter"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", redact(format % args))

    def _answer(self, status: int, doc: Mapping[str, Any], extra: Mapping[str, str] = {}
                ) -> None:
        data = json.dumps(doc).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/healthz", "/health"):
            self._answer(200, self.server.receiver.health())
        else:
            self._answer(404, {"error": "no such endpoint"})

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._answer(411, {"error": "Content-Length is required"})
            return
        if length < 0 or length > self.server.max_body:
            self.close_connection = True  # the body is never read
            self._answer(413, {"error": f"body over {self.server.max_body} bytes"})
            return
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, doc = self.server.receiver.receive(self.path, headers, body)
        except Exception as e:  # never a stack trace to the sender
            log.warning("delivery failed: %s", redact(f"{type(e).__name__}: {e}"))
            status, doc = 500, {"error": "internal error"}
        self._answer(status, doc, {"Retry-After": "30"} if status == 503 else {})

    def do_PUT(self) -> None:
        self._answer(405, {"error": "method not allowed"})

    do_DELETE = do_PATCH = do_PUT


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: Receiver, *,
                 max_body: int = MAX_BODY) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver
        self.max_body = max_body

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Graceful stop: no new connections, then the queued jobs finish (up to
        ``timeout``). True when every job ran."""
        self.shutdown()
        self.server_close()
        return self.receiver.dispatcher.close(timeout=timeout)


@dataclass
class Running:
    server: WebhookServer
    thread: threading.Thread

    def stop(self, *, timeout: float = 30.0) -> bool:
        drained = self.server.stop(timeout=timeout)
        self.thread.join(timeout)
        return drained


def start(receiver: Receiver, host: str = "127.0.0.1", port: int = 0, *,
          max_body: int = MAX_BODY) -> Running:
    """Serve in a background thread; stop with :meth:`Running.stop`."""
    server = WebhookServer((host, port), receiver, max_body=max_body)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="promoter-serve", daemon=True)
    thread.start()
    return Running(server=server, thread=thread)
