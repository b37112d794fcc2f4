"""Helm chart versions behind the registry port.

Two seams:

- :class:`ChartIndex` is the port for HTTP Helm repositories: the versions of one chart, read
  from the repository's ``index.yaml``. :class:`HttpChartIndex` is the real one (httpx; sends
  ``If-None-Match`` / ``If-Modified-Since`` when it has validators from an earlier answer and
  reuses that answer on ``304``; one fetch per repository and run however many charts it
  holds; answers kept as the OCI client keeps its own), :class:`MemoryChartIndex` the
  in-memory one.
- :class:`ChartRegistry` is a :class:`~promoter.registry.Registry` over another registry and a
  chart index: the flows ask it about charts exactly as about images (``list_tags``,
  ``manifest``). A configured chart's :attr:`~promoter.charts.ChartSource.ref` is answered from
  the index (HTTP) or from the OCI repository ``host/path/chart`` (its tags, with ``_`` read as
  ``+``); every other reference goes to the wrapped registry unchanged.

What a chart's "manifest" holds: for an HTTP chart the index entry's ``digest`` (of the
``.tgz``) and ``created``; for an OCI chart the manifest digest, and ``created`` from the
config blob when the registry has one (Helm's config has none: an OCI chart then counts as old
enough for ``min-age``, as an image without a build time does).

Errors: an index that cannot be fetched is a :class:`~promoter.errors.RegistryError` (retry
later) naming the URL; 401/403/404 and an answer that is not an index are
:class:`~promoter.errors.RegistryRefused`; an unknown chart or version is RegistryRefused too.
Credentials (a username and password from the credential store for the repository's host) are
only sent over HTTPS or to a loopback address, never in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

import httpx

from promoter.charts import (
    CHART_MEDIA_TYPE,
    ChartSource,
    ChartVersion,
    parse_index,
    tag_of_version,
    version_of_tag,
)
from promoter.errors import RegistryError, RegistryRefused
from promoter.refs import ImageRef
from promoter.registry import Enough, ManifestInfo, Registry
from promoter.registry.creds import Credentials
from promoter.registry.httpcache import Cached, HttpCache
from promoter.registry.oci import is_loopback, ssl_context
from promoter.registry.transport import PoolTransport
from promoter.secrets import redact
from promoter.signing import Signature

MAX_INDEX = 256 * 2**20  # bytes of one index.yaml read at most (large public ones are ~50 MB)


class ChartIndex(Protocol):
    async def versions(self, source: ChartSource) -> tuple[ChartVersion, ...]:
        """Every version the HTTP repository's index lists for ``source.chart``, in index
        order. RegistryRefused when the chart is not in the index; RegistryError when the
        index cannot be read. One repository's index is fetched once per run."""
        ...


class MemoryChartIndex:
    """In-memory Helm repositories: ``publish(url, chart, version, created=...)``; records
    each repository asked about in :attr:`calls`."""

    def __init__(self) -> None:
        self._repos: dict[str, dict[str, list[ChartVersion]]] = {}
        self.calls: list[str] = []

    def publish(self, repository: str, chart: str, *versions: ChartVersion | str) -> None:
        entries = self._repos.setdefault(repository.rstrip("/"), {}).setdefault(chart, [])
        entries.extend(v if isinstance(v, ChartVersion) else ChartVersion(version=v)
                       for v in versions)

    async def versions(self, source: ChartSource) -> tuple[ChartVersion, ...]:
        self.calls.append(source.repository)
        repo = self._repos.get(source.repository.rstrip("/"))
        if repo is None:
            raise RegistryRefused(f"{source.index_url}: answered 404")
        if source.chart not in repo:
            raise RegistryRefused(f"{source.index_url}: no chart {source.chart!r} in the index")
        return tuple(repo[source.chart])


CredentialSource = Callable[[str], "Credentials | None"]


class HttpChartIndex:
    """The real :class:`ChartIndex`; an async context manager owning one ``httpx.AsyncClient``
    over the OCI client's :class:`~promoter.registry.transport.PoolTransport` (``transport``
    for tests), with ``ca_bundle`` (host -> CA file, as ``registries[].ca-file``) for HTTPS.
    ``credentials(host)`` as for the OCI registry; only a username and password are used
    (Basic auth). ``kept`` keeps answers beyond this object, as the OCI client does
    (:mod:`promoter.registry.httpcache`: in memory for ``watch``, on disk with
    ``PROMOTER_CACHE_DIR``); an index larger than its ``MAX_BODY`` is not kept. A ``429``,
    a ``5xx`` or a transport error is asked again ``retries`` times (after 1 s, 2 s, 4 s...,
    or the ``Retry-After`` seconds) before it is a RegistryError. :attr:`stats` counts
    ``index`` fetches and ``not_modified`` answers."""

    def __init__(self, *, credentials: CredentialSource | None = None, timeout: float = 30.0,
                 ca_bundle: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_body: int = MAX_INDEX, kept: HttpCache | None = None,
                 retries: int = 3, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
                 ) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._ca = dict(ca_bundle or {})  # host[:port] -> CA bundle file (registries[].ca-file)
        self._ssl: dict[str, ssl.SSLContext] = {}
        self._transport = transport
        self._max_body = max_body
        self._client: httpx.AsyncClient | None = None
        self._kept = kept
        self._retries = max(0, retries)
        self._sleep = sleep
        self._fetches: dict[str, asyncio.Task[Mapping[str, tuple[ChartVersion, ...]]]] = {}
        self.stats: dict[str, int] = {"index": 0, "not_modified": 0}

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(
            transport=self._transport or PoolTransport(self._ssl_for), trust_env=False,
            follow_redirects=True, timeout=self._timeout, headers={"User-Agent": "promoter"})
        return self

    def _ssl_for(self, netloc: str) -> ssl.SSLContext:
        """The TLS context of an HTTPS ``host[:port]``: its configured CA bundle, else the
        system's (one context per bundle, made when first needed)."""
        path = self._ca.get(netloc) or self._ca.get(netloc.lower(), "")
        ctx = self._ssl.get(path)
        if ctx is None:
            ctx = self._ssl[path] = ssl_context(path or None)
        return ctx

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._fetches.clear()  # a next run asks again, with the validators kept

    async def versions(self, source: ChartSource) -> tuple[ChartVersion, ...]:
        url = source.index_url
        task = self._fetches.get(url)
        if task is None:
            task = self._fetches[url] = asyncio.ensure_future(self._fetch(url))
        entries = await asyncio.shield(task)
        if source.chart not in entries:
            raise RegistryRefused(f"{url}: no chart {source.chart!r} in the index")
        return entries[source.chart]

    def _auth(self, url: str) -> httpx.BasicAuth | None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self._credentials is None or not (parts.scheme == "https" or is_loopback(host)):
            return None
        creds = self._credentials(parts.netloc.lower())
        if creds is None or not creds.username or not creds.password:
            return None
        return httpx.BasicAuth(creds.username, creds.password)

    async def _fetch(self, url: str) -> Mapping[str, tuple[ChartVersion, ...]]:
        for attempt in range(self._retries + 1):
            try:
                return await self._fetch_once(url)
            except _Again as again:
                if attempt == self._retries:
                    n = attempt + 1
                    raise RegistryError(f"{url}: {again.reason} (after {n} "
                                        f"attempt{'s' if n != 1 else ''})") from None
                await self._sleep(again.after if again.after is not None else 2.0 ** attempt)
        raise AssertionError("unreachable")

    async def _fetch_once(self, url: str) -> Mapping[str, tuple[ChartVersion, ...]]:
        if self._client is None:
            raise RuntimeError("HttpChartIndex used outside 'async with'")
        cached = self._kept.get(url) if self._kept is not None else None
        headers: dict[str, str] = {"Accept": "application/x-yaml, text/yaml, */*"}
        if cached is not None:
            headers.update(cached.validators)
        self.stats["index"] += 1
        try:
            async with self._client.stream("GET", url, headers=headers,
                                           auth=self._auth(url) or httpx.USE_CLIENT_DEFAULT
                                           ) as response:
                if response.status_code == 304 and cached is not None:
                    self.stats["not_modified"] += 1
                    return _parsed(cached.body, url)
                if response.status_code in (401, 403, 404):
                    raise RegistryRefused(f"{url}: answered {response.status_code}")
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Again(f"answered {response.status_code}",
                                 _seconds(response.headers.get("Retry-After")))
                if response.status_code != 200:
                    raise RegistryError(f"{url}: answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_body:
                        raise RegistryRefused(f"{url}: index larger than {self._max_body} bytes")
                answer = Cached.keep({k.lower(): v for k, v in response.headers.items()},
                                     bytes(body))
        except httpx.TransportError as e:
            raise _Again(redact(f"cannot fetch the index: {type(e).__name__}"), None) from None
        entries = _parsed(bytes(body), url)
        if self._kept is not None and answer is not None and answer.validators:
            self._kept.put(url, answer)
        return entries


class _Again(Exception):
    """An answer worth asking again for: why, and after how many seconds (None: backoff)."""

    def __init__(self, reason: str, after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.after = reason, after


def _seconds(retry_after: str | None) -> float | None:
    """``Retry-After`` in seconds (at most a minute), when it gives seconds."""
    try:
        return min(60.0, max(0.0, float(retry_after))) if retry_after else None
    except ValueError:
        return None


def _parsed(body: bytes, url: str) -> Mapping[str, tuple[ChartVersion, ...]]:
    try:
        return parse_index(body, url=url)
    except RegistryError as e:  # the repository answered, with something that is no index
        raise RegistryRefused(str(e)) from None


class ChartRegistry:
    """A :class:`~promoter.registry.Registry` that answers for ``charts`` (see the module
    docstring) and passes every other reference to ``inner``. Enters ``inner`` and ``index``
    when they are async context managers."""

    def __init__(self, inner: Registry, index: ChartIndex, charts: Iterable[ChartSource]
                 ) -> None:
        self.inner = inner
        self.index = index
        self._charts = {c.ref.name: c for c in charts}
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def observer(self) -> Any:
        return getattr(self.inner, "observer", None)

    @observer.setter
    def observer(self, value: Any) -> None:
        if hasattr(self.inner, "observer"):
            self.inner.observer = value

    async def __aenter__(self) -> Self:
        stack = contextlib.AsyncExitStack()
        for part in (self.inner, self.index):
            if isinstance(part, contextlib.AbstractAsyncContextManager):
                entered = await stack.enter_async_context(part)
                if part is self.inner:
                    self.inner = entered
        self._stack = stack
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    def _http(self, image: ImageRef) -> ChartSource | None:
        source = self._charts.get(image.name)
        return source if source is not None and not source.oci else None

    async def list_tags(self, image: ImageRef) -> tuple[str, ...]:
        source = self._charts.get(image.name)
        if source is None:
            return await self.inner.list_tags(image)
        if source.oci:
            return tuple(version_of_tag(t) for t in await self.inner.list_tags(image))
        return tuple(dict.fromkeys(v.version for v in await self.index.versions(source)))

    async def manifest(self, image: ImageRef, *, created: bool = False,
                       platform: str | None = None) -> ManifestInfo:
        source = self._charts.get(image.name)
        if source is None:
            return await self.inner.manifest(image, created=created, platform=platform)
        if source.oci:
            tag = tag_of_version(image.tag) if image.tag else None
            return await self.inner.manifest(image.with_tag(tag), created=created)
        for v in await self.index.versions(source):
            if v.version == image.tag:
                return ManifestInfo(digest=v.digest or "", media_type=CHART_MEDIA_TYPE,
                                    created=v.created)
        raise RegistryRefused(f"{source.index_url}: no version {image.tag} of chart "
                              f"{source.chart!r}")

    async def prepare(self, images: Sequence[ImageRef]) -> None:
        await self.inner.prepare([i for i in images if self._http(i) is None])

    async def signatures(self, image: ImageRef, digest: str, *,
                         enough: Enough | None = None) -> tuple[Signature, ...]:
        """The wrapped registry's signatures (charts never reach the signature gate); none
        when it is no :class:`~promoter.registry.SignatureSource`."""
        read = getattr(self.inner, "signatures", None)
        if read is None:
            return ()
        found: tuple[Signature, ...] = await read(image, digest, enough=enough)
        return found
