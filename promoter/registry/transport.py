"""An ``httpx`` transport with one small stack of idle connections per origin.

Why not httpx's default pool: httpcore's ``AsyncConnectionPool`` walks every connection it
holds each time a request starts or ends, asks each idle one whether its socket is readable
through anyio's attribute lookup (tens of microseconds per call), and counts idle connections
once per idle connection. With the few dozen connections a registry scan keeps open, that
bookkeeping cost more CPU than everything else the client did: a scan of 200 images spent
more than half its time there, and more the more requests were in flight.

Here a request takes the most recently used idle connection to its origin (or opens one),
and the connection goes back on that stack when its response is closed: constant work per
request. Connections are httpcore's own ``AsyncHTTPConnection`` (HTTP/1.1, TLS, timeouts from
the request's ``timeout`` extension), on a network backend whose streams keep their socket at
hand, so the "did the server close this idle connection" check is one ``poll``. An idle
connection that is past its keep-alive or that the server has closed is dropped when met. A
``GET``/``HEAD`` that fails on a reused connection before any answer (the server closed it in
the meantime) is sent once more on a fresh connection, as browsers do; anything else is raised
as httpx's exception of the same name, as httpx's own transport does.

Concurrency is not limited here: :class:`~promoter.registry.oci.OciRegistry` bounds the
requests in flight per host before they reach the transport.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS"})

# httpcore's exceptions, most specific first, and httpx's of the same meaning
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError:
        raise
    except Exception as e:
        for theirs, ours in _EXCEPTIONS:
            if isinstance(e, theirs):
                raise ours(str(e)) from e
        raise


def _readable(sock: socket.socket | None) -> bool:
    """Whether reading would not block: on an idle keep-alive connection that means the server
    closed it (or sent something unasked), so it must not be reused."""
    if sock is None or sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):
        p = select.poll()
        p.register(sock, select.POLLIN)
        return bool(p.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - no poll() (Windows)


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream that keeps its socket for a cheap readability check."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address,
                                                     socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    """A response body that gives its connection back when closed."""

    def __init__(self, inner: Any, done: Callable[[], Any]) -> None:
        self._inner = inner
        self._done = done
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                with _mapped():
                    await self._inner.aclose()
            finally:
                await self._done()


Origin = tuple[bytes, bytes, int]


class PoolTransport(httpx.AsyncBaseTransport):
    """``ssl_context(netloc)`` gives the TLS context for a ``host[:port]`` as the URL writes it
    (a CA bundle per host, or one for all). ``keepalive`` is how long an idle connection is
    kept, ``max_idle`` how many idle connections per origin. ``opened`` counts the
    connections made."""

    def __init__(self, ssl_context: Callable[[str], ssl.SSLContext], *,
                 keepalive: float = 5.0, max_idle: int = 64) -> None:
        self._ssl_context = ssl_context
        self._keepalive = keepalive
        self._max_idle = max_idle
        self._backend = _Backend()
        self._idle: dict[Origin, list[httpcore.AsyncHTTPConnection]] = {}
        self._busy: set[httpcore.AsyncHTTPConnection] = set()
        self.opened = 0

    def idle(self) -> int:
        """The idle connections held, over all origins."""
        return sum(len(stack) for stack in self._idle.values())

    def _take(self, origin: Origin, netloc: str) -> tuple[httpcore.AsyncHTTPConnection, bool,
                                             list[httpcore.AsyncHTTPConnection]]:
        """A connection to ``origin``: the freshest usable idle one, else a new one; plus the
        stale ones met on the way, to close."""
        stack = self._idle.get(origin, [])
        stale: list[httpcore.AsyncHTTPConnection] = []
        while stack:
            conn = stack.pop()
            if conn.is_available() and not conn.has_expired():
                return conn, True, stale
            stale.append(conn)
        scheme, host, port = origin
        conn = httpcore.AsyncHTTPConnection(
            httpcore.Origin(scheme, host, port),
            ssl_context=self._ssl_context(netloc) if scheme == b"https" else None,
            keepalive_expiry=self._keepalive, network_backend=self._backend)
        self.opened += 1
        return conn, False, stale

    async def _give_back(self, origin: Origin, conn: httpcore.AsyncHTTPConnection) -> None:
        self._busy.discard(conn)
        stack = self._idle.setdefault(origin, [])
        if conn.is_idle() and not conn.has_expired() and len(stack) < self._max_idle:
            stack.append(conn)
        else:
            await conn.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        port = url.port or (443 if scheme == b"https" else 80)
        origin: Origin = (scheme, url.raw_host, port)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)
        while True:
            conn, reused, stale = self._take(origin, url.netloc.decode("ascii"))
            for old in stale:
                await old.aclose()
            self._busy.add(conn)
            try:
                with _mapped():
                    response = await conn.handle_async_request(core)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError,
                    httpcore.ConnectionNotAvailable) as e:
                self._busy.discard(conn)
                await conn.aclose()
                if reused and core.method in _IDEMPOTENT:
                    continue  # the server closed it while idle: once more, on a new one
                if isinstance(e, httpcore.ConnectionNotAvailable):
                    raise httpx.RemoteProtocolError(str(e) or "connection not available") from e
                raise
            except BaseException:
                self._busy.discard(conn)
                await conn.aclose()
                raise
            break

        async def done() -> None:
            await self._give_back(origin, conn)

        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_Body(response.stream, done),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        conns = [c for stack in self._idle.values() for c in stack] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for conn in conns:
            await conn.aclose()
