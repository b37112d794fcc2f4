"""The real :class:`~promoter.registry.Registry`: the OCI distribution API over one
``httpx.AsyncClient`` (one connection pool for every registry host).

What it speaks: the ``/v2/`` ping, ``tags/list`` with pagination (``n``, ``last`` and the
``Link`` header, relative or absolute), manifest ``HEAD`` with the full ``Accept`` list (OCI
index and manifest, Docker manifest list and v2) for the digest, ``GET`` of a manifest or index
and of the config blob for the build time and a platform; for the signature gate, ``GET`` of
cosign signature manifests, their payload blobs and the OCI 1.1 referrers API
(:meth:`OciRegistry.fetch`, used by :mod:`promoter.registry.signatures`).

Hosts: ``docker.io`` is reached at ``registry-1.docker.io``. Everything is HTTPS except the
hosts given as ``insecure`` and the loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``),
which are plain HTTP (docker treats loopback registries as insecure too;
``plain_loopback=False`` turns that off). ``ca_bundle`` adds a custom CA file to the public
ones (certifi's), for every host, or per host when given as ``{host: file}``.

Faults: connection errors, timeouts, truncated answers, unreadable JSON and 5xx are retried
with exponential backoff and jitter (:class:`RetryPolicy`). A host that could not be connected
to on any retry is not asked again by this client: the rest of its images fail at once. A
``429`` waits ``Retry-After`` (or Docker Hub's ``RateLimit-Reset``) when that is at most
``max_retry_after`` seconds, else fails at once. In-flight requests are limited per host by a
:class:`~promoter.registry.limit.HostLimit`: adaptive by default (a few at first, more while
answers come back as fast, fewer when they slow down, half after a 429/503 or a timeout),
fixed where the user set a number; optionally paced to a number of requests per second.
Deadlines: ``timeout`` bounds each network operation (connect, one read, one write), which a
registry sending one byte at a time never trips; so every exchange must also be complete
(headers and body) within ``request_deadline`` seconds (an overrun is retried like a
timeout), and every request of one ``async with`` (one run: a poll, ``promoter tags``) must
start before ``run_deadline`` seconds have passed, waits for ``Retry-After`` included; after
that each image fails at once, naming the deadline. An answer longer than ``max_body`` bytes
(decoded) is not read further: the image fails, naming the size.

Every failure is a :class:`~promoter.errors.RegistryError` with a one-line reason naming the
image; no secret ever reaches it (credentials go in headers only, and are registered for
redaction).

Sleep, clock and jitter are injectable so that retry tests take no time.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import ipaddress
import json
import logging
import random
import re
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import certifi
import httpx

from promoter.errors import InputError, PromoterError, RegistryError, RegistryRefused
from promoter.refs import DOCKER_HUB, ImageRef, is_valid_digest, shorten, tag_problem
from promoter.registry import ManifestInfo
from promoter.registry.auth import AuthFailed, HostAuth, repository_scope
from promoter.registry.creds import Credentials, CredentialStore
from promoter.registry.httpcache import Cached, HttpCache, immutable
from promoter.registry.limit import HostLimit
from promoter.registry.transport import PoolTransport

if TYPE_CHECKING:
    from promoter.registry import Enough
    from promoter.signing import Signature

log = logging.getLogger(__name__)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
HUB_ENDPOINT = "registry-1.docker.io"
DEFAULT_PLATFORM = "linux/amd64"
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_FRACTION = re.compile(r"(\.\d{6})\d+")

Sleep = Callable[[float], Awaitable[None]]
CredentialSource = Callable[[str], Credentials | None]
# (host, kind, HTTP status or None for a transport error, seconds): hears of every exchange
RequestObserver = Callable[[str, str, int | None, float], None]


class Fetched(NamedTuple):
    """A repository document as :meth:`OciRegistry.fetch` got it."""

    status: int
    content: bytes
    media_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try. ``attempts`` counts every try of one request (first one included)."""

    attempts: int = 4
    backoff: float = 0.5  # first delay; doubled per attempt, with jitter
    max_backoff: float = 8.0
    max_retry_after: float = 60.0  # a 429 asking to wait longer fails the image instead

    def delay(self, attempt: int, rand: float) -> float:
        """Equal jitter: half the exponential step fixed, half random."""
        step = min(self.max_backoff, self.backoff * 2.0**attempt)
        return float(step / 2 + rand * step / 2)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def ssl_context(cafile: str | Path | None) -> ssl.SSLContext:
    """The public CAs (certifi's, as httpx uses), plus ``cafile`` when given."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    if cafile is not None:
        try:
            ctx.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as e:
            raise InputError(f"{cafile}: not a readable CA bundle "
                             f"({getattr(e, 'strerror', None) or e})") from None
    return ctx


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds a 429 asks us to wait: ``Retry-After`` (seconds or HTTP date), then
    ``RateLimit-Reset``, then Docker Hub's exhausted ``RateLimit-Remaining: 0;w=SECONDS``."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("RateLimit-Reset") or headers.get("X-RateLimit-Reset")
    if reset and reset.strip().split(";")[0].isdigit():
        seconds = float(reset.strip().split(";")[0])
        return max(0.0, seconds - now) if seconds > 1e9 else seconds  # epoch or delta
    remaining = headers.get("RateLimit-Remaining")
    if remaining and remaining.split(";")[0].strip() == "0":
        m = re.search(r"w=(\d+)", remaining)
        return float(m.group(1)) if m else None
    return None


MAX_TAG_WARNINGS = 5  # bad tags named one by one per answer; the rest are counted


def valid_tags(what: str, entries: Iterable[object]) -> list[str]:
    """The entries of a ``tags/list`` answer that are OCI tags. Each one that is not (not a
    string, a newline, a space, too long) is skipped with a warning naming it, so a hostile or
    broken registry can neither smuggle text into a file or a URL nor stop the run."""
    good: list[str] = []
    bad = 0
    for entry in entries:
        problem = tag_problem(entry)
        if problem is None:
            assert isinstance(entry, str)
            good.append(entry)
            continue
        bad += 1
        if bad <= MAX_TAG_WARNINGS:
            log.warning("%s: skipped tag %s from the registry: %s", what, shorten(entry),
                        problem)
    if bad > MAX_TAG_WARNINGS:
        log.warning("%s: skipped %d more invalid tags from the registry", what,
                    bad - MAX_TAG_WARNINGS)
    return good


def _error_code(response: httpx.Response) -> str | None:
    """The first ``errors[].code`` of a distribution error body, if any."""
    try:
        errors = response.json().get("errors") or []
        return str(errors[0]["code"]) if errors else None
    except (ValueError, AttributeError, LookupError, TypeError):
        return None


def _after(attempts: int) -> str:
    return f"(after {attempts} attempt{'s' if attempts != 1 else ''})"


def _transport_reason(e: httpx.TransportError) -> str:
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.ConnectError):
        return ("TLS certificate not trusted" if "CERTIFICATE_VERIFY_FAILED" in str(e)
                else "cannot connect")
    if isinstance(e, httpx.RemoteProtocolError):
        return "connection closed mid-answer"
    return type(e).__name__


def _parse_created(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None


def _platform_of(entry: Mapping[str, Any]) -> str:
    p = entry.get("platform") or {}
    text = f"{p.get('os', 'unknown')}/{p.get('architecture', 'unknown')}"
    return f"{text}/{p['variant']}" if p.get("variant") else text


class _Host:
    """Per registry host: base URL, auth state, the ping once."""

    def __init__(self, base: str, auth: HostAuth) -> None:
        self.base = base
        self.auth = auth
        self.ping_lock = asyncio.Lock()
        self.pinged = False
        self.page_size_ok = True


class OciRegistry:
    """The OCI distribution client; an async context manager owning one ``httpx.AsyncClient``.

    ``credentials(host)`` gives the credentials of a host (default: a
    :class:`~promoter.registry.creds.CredentialStore` over ``os.environ``). ``concurrency``
    is the most requests in flight per host; below it the number adapts to how the host
    answers (``adaptive=False``: always ``concurrency``). ``host_concurrency`` fixes the number
    for some hosts (``{"docker.io": 4}``; token endpoints count as their own host) and
    ``host_rate`` caps their requests per second; ``limits`` holds each host's
    :class:`~promoter.registry.limit.HostLimit` (its ``peak`` and current ``limit``);
    ``request_deadline`` and ``run_deadline`` are the deadlines of one exchange and of the
    whole run (see the module docstring; ``None``: no run deadline), ``max_body`` the most
    bytes of one answer that are read (a tag page or a manifest is kilobytes);
    ``page_size`` is the ``n`` asked of ``tags/list``; ``scope_batch`` how many repository
    scopes one token request asks for. ``stats`` counts every exchange on the wire by kind
    (``ping``, ``tags``, ``manifest_head``, ``manifest_get``, ``blob``, ``token``; ``_401``
    appended for challenges; ``*_failed`` for transport errors) plus ``retries``.
    """

    def __init__(self, *, credentials: CredentialSource | None = None,
                 insecure: Iterable[str] = (),
                 ca_bundle: str | Path | Mapping[str, str | Path] | None = None,
                 plain_loopback: bool = True, concurrency: int = 32,
                 host_concurrency: Mapping[str, int] | None = None,
                 host_rate: Mapping[str, float] | None = None, adaptive: bool = True,
                 page_size: int = 1000,
                 timeout: float = 30.0, request_deadline: float = 90.0,
                 run_deadline: float | None = 1800.0, max_body: int = 32 * 2**20,
                 retry: RetryPolicy | None = None, scope_batch: int = 64,
                 sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random,
                 transport: httpx.AsyncBaseTransport | None = None,
                 observer: RequestObserver | None = None,
                 http_cache: HttpCache | None = None) -> None:
        self.observer = observer  # metrics: see RequestObserver
        self.http_cache = http_cache  # answers kept across runs: see promoter.registry.httpcache
        self._credentials: CredentialSource = credentials or CredentialStore()
        self._insecure = frozenset(h.lower() for h in insecure)
        self._plain_loopback = plain_loopback
        self._ca_bundle = ca_bundle
        self._concurrency = max(1, concurrency)
        self._host_concurrency = dict(host_concurrency or {})
        self._host_rate = dict(host_rate or {})
        self._adaptive = adaptive
        self._page_size = page_size
        self._timeout = timeout
        self._request_deadline = request_deadline
        self._max_body = max_body
        self._run_deadline = run_deadline
        self._run_ends = float("inf")
        self.retry = retry or RetryPolicy()
        self._scope_batch = scope_batch
        self._sleep = sleep
        self._clock = clock
        self._wall = wall_clock
        self._jitter = jitter
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._ssl: dict[str, ssl.SSLContext] = {}
        self._hosts: dict[str, _Host] = {}
        self.limits: dict[str, HostLimit] = {}  # by host[:port] as requests reach it
        self._down: dict[str, str] = {}  # host -> why: it failed every retry; not asked again
        self.stats: Counter[str] = Counter()

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._run_deadline is not None:
            self._run_ends = self._clock() + self._run_deadline
        bundles = self._ca_bundle  # read now, so that a bad CA file fails before any request
        for netloc in (bundles if isinstance(bundles, Mapping) else [""] if bundles else []):
            self._ssl_for(HUB_ENDPOINT if netloc == DOCKER_HUB else netloc)
        self._client = httpx.AsyncClient(
            transport=self._transport or PoolTransport(self._ssl_for), trust_env=False,
            timeout=httpx.Timeout(self._timeout, pool=None), headers={"User-Agent": "promoter"})
        return self

    def _ssl_for(self, netloc: str) -> ssl.SSLContext:
        """The TLS context for an HTTPS ``host[:port]``: its own CA bundle when configured
        (``docker.io`` means its endpoint), else the common one; made once, when first needed."""
        bundles = self._ca_bundle
        per_host = ({HUB_ENDPOINT if h == DOCKER_HUB else h: p for h, p in bundles.items()}
                    if isinstance(bundles, Mapping) else {})
        key = netloc if netloc in per_host else ""
        ctx = self._ssl.get(key)
        if ctx is None:
            common = None if isinstance(bundles, Mapping) else bundles
            ctx = self._ssl[key] = ssl_context(per_host[key] if key else common)
        return ctx

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("OciRegistry is used outside 'async with'")
        return self._client

    # -- hosts --------------------------------------------------------------------------
    def base_url(self, registry: str) -> str:
        """``https://HOST`` (``http://`` for insecure and loopback hosts)."""
        host = HUB_ENDPOINT if registry == DOCKER_HUB else registry
        plain = registry.lower() in self._insecure or host.lower() in self._insecure
        plain = plain or (self._plain_loopback and is_loopback(host))
        return f"{'http' if plain else 'https'}://{host}"

    def _host(self, registry: str) -> _Host:
        h = self._hosts.get(registry)
        if h is None:
            auth = HostAuth(registry, self._credentials(registry), self._send,
                            clock=self._clock, scope_batch=self._scope_batch)
            h = self._hosts[registry] = _Host(self.base_url(registry), auth)
        return h

    async def _ping(self, registry: str, what: str) -> _Host:
        """``GET /v2/`` once per host: learns the auth scheme and the token realm. ``what``
        names the image asking, for errors."""
        h = self._host(registry)
        if h.pinged:
            return h
        async with h.ping_lock:
            if not h.pinged:
                request = self.client.build_request("GET", f"{h.base}/v2/")
                response = await self._send(request, what)
                if response.status_code not in (200, 401):
                    raise RegistryError(f"{what}: {registry} is not a registry (/v2/ answered "
                                        f"{response.status_code})")
                h.auth.learn(response)
                h.pinged = True
        return h

    async def prepare(self, images: Sequence[ImageRef]) -> None:
        """Ping every host and fetch Bearer tokens for all these repositories, many scopes per
        token request. Failures are left for the per-image calls to report."""
        by_host: dict[str, set[str]] = {}
        for image in images:
            by_host.setdefault(image.registry, set()).add(repository_scope(image.repository))

        async def one(registry: str, scopes: set[str]) -> None:
            try:
                h = await self._ping(registry, registry)
                await h.auth.prefetch(scopes)
            except PromoterError as e:  # e.g. a broken credential helper: each image says so
                log.debug("prepare host=%s failed: %s", registry, e)

        await asyncio.gather(*(one(r, s) for r, s in by_host.items()))

    # -- the wire -----------------------------------------------------------------------
    def _limit(self, key: str) -> HostLimit:
        limit = self.limits.get(key)
        if limit is None:
            names = (key, DOCKER_HUB) if key == HUB_ENDPOINT else (key,)
            fixed = next((self._host_concurrency[n] for n in names
                          if n in self._host_concurrency), None)
            rate = next((self._host_rate[n] for n in names if n in self._host_rate), None)
            limit = self.limits[key] = HostLimit(
                ceiling=fixed or self._concurrency, fixed=fixed is not None or not self._adaptive,
                requests_per_second=rate, clock=self._clock, sleep=self._sleep)
        return limit

    @staticmethod
    def _kind(request: httpx.Request) -> str:
        path = request.url.path
        if path.endswith("/tags/list"):
            return "tags"
        if "/manifests/" in path:
            return f"manifest_{request.method.lower()}"
        if "/blobs/" in path:
            return "blob"
        if "/referrers/" in path:
            return "referrers"
        if path.rstrip("/") == "/v2":
            return "ping"
        return "token"

    async def _send(self, request: httpx.Request, what: str) -> httpx.Response:
        """One exchange with retries (transport errors, 5xx, 429). Other statuses are returned."""
        policy = self.retry
        kind = self._kind(request)
        host = request.url.netloc.decode()
        attempt = 0
        while True:
            last = attempt + 1 >= policy.attempts
            budget = self._request_deadline
            try:
                async with self._limit(host).slot(kind) as slot:
                    if host in self._down:  # checked once our turn came, not before waiting
                        raise RegistryError(f"{what}: {host} {self._down[host]} (gave up on "
                                            "this host after earlier requests failed every retry)")
                    budget = min(budget, self._run_left(what))
                    sent = time.perf_counter()
                    try:
                        async with asyncio.timeout(budget):  # headers and body, all of it
                            response = await self._exchange(request, kind == "blob", what)
                    except (httpx.TransportError, TimeoutError) as e:
                        slot.overloaded |= isinstance(e, httpx.TimeoutException | TimeoutError)
                        if self.observer:
                            self.observer(host, kind, None, time.perf_counter() - sent)
                        raise
                    if self.observer:
                        self.observer(host, kind, response.status_code,
                                      time.perf_counter() - sent)
                    slot.overloaded = response.status_code in (429, 503)
            except (httpx.TransportError, TimeoutError) as e:
                self.stats[f"{kind}_failed"] += 1
                reason = _transport_reason(e) if isinstance(e, httpx.TransportError) else \
                    f"sent no complete answer within {budget:g}s"
                log.debug("request failed host=%s kind=%s attempt=%d: %s", host, kind,
                          attempt + 1, reason)
                if last or reason.startswith("TLS"):  # an untrusted certificate stays so
                    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
                        self._down[host] = reason  # unreachable, not merely one slow answer
                    raise RegistryError(f"{what}: {host} {reason} {_after(attempt + 1)}"
                                        ) from None
                await self._backoff(attempt)
                attempt += 1
                continue
            self.stats[kind if response.status_code != 401 else f"{kind}_401"] += 1
            status = response.status_code
            if status == 429:
                wait = retry_after(response.headers, self._wall())
                if wait is None:
                    wait = policy.delay(attempt, self._jitter())
                too_long = wait > min(policy.max_retry_after, self._run_ends - self._clock())
                if last or too_long:
                    hint = f", asks to wait {int(wait)}s" if too_long else ""
                    raise RegistryError(f"rate limited by {host} for {what} (429{hint})")
                self.stats["retries"] += 1
                await self._sleep(wait)
                attempt += 1
                continue
            if status in _RETRY_STATUSES and not last:
                log.debug("retrying host=%s kind=%s status=%d", host, kind, status)
                await self._backoff(attempt)
                attempt += 1
                continue
            if status in _RETRY_STATUSES:
                raise RegistryError(f"{what}: {host} answered {status} {_after(attempt + 1)}")
            return response

    async def _exchange(self, request: httpx.Request, follow: bool, what: str) -> httpx.Response:
        """Send ``request`` and read at most ``max_body`` bytes of the (decoded) answer."""
        response = await self.client.send(request, follow_redirects=follow, stream=True)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self._max_body and \
                "Content-Encoding" not in response.headers:
            try:
                await response.aread()  # the usual answer: its length is known and small enough
            except BaseException:
                await response.aclose()
                raise
            return response
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_body:
                    raise RegistryError(f"{what}: {request.url.netloc.decode()} sent more than "
                                        f"{self._max_body:,} bytes; not read further")
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]  # now plain bytes
        return httpx.Response(response.status_code, headers=headers, content=bytes(body),
                              request=request, extensions=response.extensions)

    def _run_left(self, what: str) -> float:
        """Seconds left of the run's deadline; RegistryError once it has passed."""
        left = self._run_ends - self._clock()
        if left <= 0:
            raise RegistryError(f"{what}: gave up: the registry requests of this run took "
                                f"longer than its deadline of {self._run_deadline:g}s")
        return left

    async def _backoff(self, attempt: int) -> None:
        self.stats["retries"] += 1
        await self._sleep(self.retry.delay(attempt, self._jitter()))

    async def _request(self, image: ImageRef, method: str, path: str, what: str, *,
                       accept: str | None = None, extra: Mapping[str, str] | None = None
                       ) -> httpx.Response:
        """A repository request with auth: the header up front when known, one retry after a
        ``401`` challenge (``extra``: more headers, the validators of a kept answer)."""
        h = await self._ping(image.registry, what)
        scope = repository_scope(image.repository)
        authorization = await h.auth.authorize(scope, what)
        url = path if path.startswith(("http://", "https://")) else f"{h.base}{path}"
        for _ in range(2):
            headers = {"Accept": accept} if accept else {}
            headers.update(extra or {})
            if authorization:
                headers["Authorization"] = authorization
            request = self.client.build_request(method, url, headers=headers)
            response = await self._send(request, what)
            if response.status_code != 401:
                h.auth.learn(response)
                return response
            authorization = await h.auth.on_401(response, scope, what)
        raise AuthFailed(f"authentication failed for {what} (401)")

    def _fail(self, response: httpx.Response, what: str) -> RegistryError:
        """The error for an unexpected status of a repository request."""
        status = response.status_code
        code = _error_code(response) if response.request.method != "HEAD" else None
        if status == 404:
            if code == "NAME_UNKNOWN" or (code is None and "/manifests/" not in
                                          response.request.url.path):
                return RegistryRefused(f"repository not found: {what}"
                                     f" ({code or 404})")
            return RegistryRefused(f"not found: {what} ({code or 'MANIFEST_UNKNOWN'})")
        if status == 403:
            return AuthFailed(f"access denied for {what} (403{' ' + code if code else ''})")
        return RegistryError(f"{what}: {response.url.netloc.decode()} answered {status}"
                             f"{' ' + code if code else ''}")

    async def _json(self, image: ImageRef, path: str, what: str, *,
                    accept: str | None = None) -> tuple[httpx.Response, Any]:
        """GET a JSON document; an unreadable body is retried like a transport error. With an
        :attr:`http_cache`, a kept content-addressed answer is used without asking and a kept
        answer with validators is asked about conditionally (``304``: it holds)."""
        cache, key, kept = self.http_cache, "", None
        if cache is not None:
            h = await self._ping(image.registry, what)
            url = path if path.startswith(("http://", "https://")) else f"{h.base}{path}"
            key = f"{url} {accept or ''}"
            kept = cache.get(key)
            if kept is not None and immutable(url):
                try:
                    doc = json.loads(kept.body)
                    self.stats["cached"] += 1
                    return httpx.Response(200, headers=kept.headers, content=kept.body,
                                          request=httpx.Request("GET", url)), doc
                except (ValueError, UnicodeDecodeError):
                    kept = None
        attempt = 0
        while True:
            response = await self._request(image, "GET", path, what, accept=accept,
                                           extra=kept.validators if kept else None)
            if response.status_code == 304 and kept is not None:
                self.stats["revalidated"] += 1
                response = httpx.Response(200, headers=kept.headers, content=kept.body,
                                          request=response.request)
            if response.status_code != 200:
                return response, None
            try:
                doc = json.loads(response.content)
            except (ValueError, UnicodeDecodeError):
                kept = None  # a kept body that does not parse is asked for again, whole
                if attempt + 1 >= self.retry.attempts:
                    raise RegistryError(f"{what}: unreadable JSON from "
                                        f"{response.url.netloc.decode()} {_after(attempt + 1)}"
                                        ) from None
                await self._backoff(attempt)
                attempt += 1
                continue
            if cache is not None and (immutable(key.split(" ", 1)[0])
                                      or "etag" in response.headers
                                      or "last-modified" in response.headers):
                answer = Cached.keep(dict(response.headers), response.content)
                if answer is not None:
                    cache.put(key, answer)
            return response, doc

    async def fetch(self, image: ImageRef, path: str, what: str, *,
                    accept: str | None = None) -> Fetched:
        """``GET /v2/<repository>/<path>`` (``manifests/REF``, ``blobs/DIGEST``,
        ``referrers/DIGEST``) with this client's auth, retries, deadlines and size cap. A 404
        (or another 4xx but 401/403/429) is an answer; other failures raise RegistryError."""
        response = await self._request(image, "GET", f"/v2/{image.repository}/{path}", what,
                                       accept=accept)
        status = response.status_code
        if status in (401, 403) or not (status == 200 or 400 <= status < 500):
            raise self._fail(response, what)
        return Fetched(status, response.content if status == 200 else b"",
                       self._media(response, {}))

    async def signatures(self, image: ImageRef, digest: str, *,
                         enough: Enough | None = None) -> tuple[Signature, ...]:
        """See :meth:`promoter.registry.SignatureSource.signatures`."""
        from promoter.registry.signatures import fetch_signatures

        return await fetch_signatures(self, image, digest, enough=enough)

    # -- the Registry protocol ------------------------------------------------------------
    async def list_tags(self, image: ImageRef) -> tuple[str, ...]:
        """All tags, every page followed (``Link: rel="next"``, relative or absolute; only its
        path and query are used, on this registry's own base URL)."""
        what = image.name
        h = await self._ping(image.registry, what)
        base = f"/v2/{image.repository}/tags/list"
        path = f"{base}?n={self._page_size}" if self._page_size and h.page_size_ok else base
        tags: dict[str, None] = {}
        seen: set[str] = set()
        while path:
            seen.add(path)
            response, doc = await self._json(image, path, what)
            if response.status_code == 400 and path.startswith(f"{base}?n=") and not tags \
                    and _error_code(response) == "PAGINATION_NUMBER_INVALID":
                h.page_size_ok = False  # a registry with a smaller maximum: let it choose
                path = base
                continue
            if response.status_code != 200:
                raise self._fail(response, what)
            if not isinstance(doc, dict) or not isinstance(doc.get("tags") or [], list):
                raise RegistryError(f"{what}: tags/list answer is not a tag list")
            tags.update(dict.fromkeys(valid_tags(what, doc.get("tags") or ())))
            path = self._next_page(response)
            if path in seen:
                raise RegistryError(f"{what}: tags/list pagination loops at {path}")
        return tuple(tags)

    @staticmethod
    def _next_page(response: httpx.Response) -> str:
        link = response.links.get("next", {}).get("url")
        if not link:
            return ""
        url = response.request.url.join(link)
        return url.raw_path.decode()

    async def manifest(self, image: ImageRef, *, created: bool = False,
                       platform: str | None = None) -> ManifestInfo:
        """See :meth:`promoter.registry.Registry.manifest`. A plain call is one ``HEAD``;
        ``created``/``platform`` use ``GET`` (manifest, then the platform's manifest of an
        index, then its config blob)."""
        ref = image.digest or image.tag or "latest"
        problem = tag_problem(ref) if image.digest is None else \
            None if is_valid_digest(ref) else "not a valid digest"
        if problem is not None:  # never into a URL: a newline or a space would end it
            raise InputError(f"{image.name}: {shorten(ref)} is {problem}" if image.digest else
                             f"{image.name}: not a valid tag: {shorten(ref)} ({problem})")
        what = f"{image.name}@{ref}" if image.digest else f"{image.name}:{ref}"
        path = f"/v2/{image.repository}/manifests/{ref}"
        if not created and platform is None:
            response = await self._request(image, "HEAD", path, what, accept=MANIFEST_ACCEPT)
            if response.status_code != 200:
                raise self._fail(response, what)
            digest = response.headers.get("Docker-Content-Digest")
            if digest:
                return ManifestInfo(digest=digest, media_type=self._media(response, {}))
        response, doc = await self._json(image, path, what, accept=MANIFEST_ACCEPT)
        if response.status_code != 200:
            raise self._fail(response, what)
        if not isinstance(doc, dict):
            raise RegistryError(f"{what}: manifest is not a JSON object")
        digest = response.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(response.content).hexdigest())
        media = self._media(response, doc)
        platforms: tuple[str, ...] = ()
        manifest_doc = doc
        if media in INDEX_TYPES or isinstance(doc.get("manifests"), list):
            entries = [e for e in doc.get("manifests") or () if isinstance(e, dict)]
            platforms = tuple(_platform_of(e) for e in entries)
            if not created and platform is None:
                return ManifestInfo(digest=digest, media_type=media, platforms=platforms)
            child = self._pick(entries, platform, what, platforms)
            if not created:
                return ManifestInfo(digest=digest, media_type=media, platforms=platforms)
            child_path = f"/v2/{image.repository}/manifests/{child['digest']}"
            child_response, manifest_doc = await self._json(image, child_path, what,
                                                            accept=MANIFEST_ACCEPT)
            if child_response.status_code != 200 or not isinstance(manifest_doc, dict):
                raise self._fail(child_response, f"{what} ({_platform_of(child)})")
        when = None
        if created:
            when = await self._created(image, manifest_doc, what, platform)
        return ManifestInfo(digest=digest, media_type=media, created=when, platforms=platforms)

    @staticmethod
    def _media(response: httpx.Response, doc: Mapping[str, Any]) -> str:
        media = doc.get("mediaType")
        if isinstance(media, str) and media:
            return media
        return str(response.headers.get("Content-Type", "")).split(";")[0].strip()

    @staticmethod
    def _pick(entries: list[dict[str, Any]], platform: str | None, what: str,
              platforms: tuple[str, ...]) -> dict[str, Any]:
        """The index entry for ``platform`` (``os/arch[/variant]``); by default linux/amd64,
        else the first real platform (attestation entries are ``unknown/unknown``)."""
        wanted = platform or DEFAULT_PLATFORM
        for entry, name in zip(entries, platforms, strict=True):
            if name == wanted or (wanted.count("/") == 1 and name.startswith(wanted + "/")):
                if isinstance(entry.get("digest"), str):
                    return entry
        if platform is None:
            for entry, name in zip(entries, platforms, strict=True):
                if name != "unknown/unknown" and isinstance(entry.get("digest"), str):
                    return entry
        raise RegistryError(f"{what}: no {wanted} manifest in the index (has "
                            f"{', '.join(platforms) or 'none'})")

    async def _created(self, image: ImageRef, manifest: Mapping[str, Any], what: str,
                       platform: str | None) -> datetime | None:
        config = manifest.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise RegistryError(f"{what}: manifest has no config blob")
        path = f"/v2/{image.repository}/blobs/{config['digest']}"
        response, doc = await self._json(image, path, what)
        if response.status_code != 200 or not isinstance(doc, dict):
            raise self._fail(response, f"{what} (config blob)")
        if platform is not None:
            have = f"{doc.get('os', 'unknown')}/{doc.get('architecture', 'unknown')}"
            if not (platform == have or platform.startswith(have + "/")):
                raise RegistryError(f"{what}: image is {have}, not {platform}")
        return _parse_created(doc.get("created"))
