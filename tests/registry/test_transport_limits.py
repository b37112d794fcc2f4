"""The connection pool and the adaptive per-host limit, against the real registry (behind the
fault proxy where latency or 429s are needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from promoter.errors import RegistryError
from promoter.refs import ImageRef
from promoter.registry.limit import FLOOR, INITIAL
from promoter.registry.oci import OciRegistry, ssl_context
from promoter.registry.transport import PoolTransport
from tests.registry.conftest import APP_TAGS, Seeded, make_registry, run
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(plain_registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(plain_registry.url) as p:
        yield p


def apps(host: str, n: int) -> list[ImageRef]:
    return [ImageRef.parse(f"{host}/test/app-{i % 6:04d}") for i in range(n)]


def pool(**kw: float) -> PoolTransport:
    return PoolTransport(lambda netloc: ssl_context(None), **kw)  # type: ignore[arg-type]


async def list_all(reg: OciRegistry, images: list[ImageRef]) -> list[tuple[str, ...]]:
    return list(await asyncio.gather(*(reg.list_tags(i) for i in images)))


# -- the pool -------------------------------------------------------------------------------

def test_one_connection_serves_requests_one_after_another(plain_registry: LocalRegistry) -> None:
    transport = pool()

    async def go(reg: OciRegistry) -> None:
        for image in apps(plain_registry.host, 12):
            assert len(await reg.list_tags(image)) == APP_TAGS

    run(go, make_registry(transport=transport, page_size=0))
    assert transport.opened == 1


@pytest.mark.parametrize("max_idle", [64, 3])
def test_concurrent_requests_open_no_more_connections_than_in_flight(
        plain_registry: LocalRegistry, max_idle: int) -> None:
    """Five in flight at most: five connections serve all thirty, and no more than
    ``max_idle`` are kept between requests (with three kept, some are opened again)."""
    transport = pool(max_idle=max_idle)
    reg = make_registry(transport=transport, page_size=0, host_concurrency={
        plain_registry.host: 5})
    idle_before_close: list[int] = []

    async def go(r: OciRegistry) -> None:
        results = await list_all(r, apps(plain_registry.host, 30))
        assert all(len(t) == APP_TAGS for t in results)
        idle_before_close.append(transport.idle())

    run(go, reg)
    if max_idle > 5:
        assert 1 < transport.opened <= 5
        assert idle_before_close == [transport.opened]
    else:
        assert idle_before_close == [max_idle]
    assert transport.idle() == 0  # closing the registry closed the pool


def test_an_idle_connection_past_its_keepalive_is_not_reused(
        plain_registry: LocalRegistry) -> None:
    transport = pool(keepalive=0.05)

    async def go(reg: OciRegistry) -> None:
        image = apps(plain_registry.host, 1)[0]
        await reg.list_tags(image)
        await asyncio.sleep(0.2)
        await reg.list_tags(image)

    run(go, make_registry(transport=transport, page_size=0))
    assert transport.opened == 2


def test_a_connection_the_server_closed_while_idle_is_replaced(proxy: FaultProxy,
                                                               seeded: Seeded) -> None:
    """The proxy closes the connection after the ping; the next request notices before sending
    (the socket reads as closed) or on sending, and goes on a new connection, unretried."""
    transport = pool()
    reg = make_registry(transport=transport, page_size=0)
    proxy.add("drop", path="/tags/list")

    async def go(r: OciRegistry) -> tuple[str, ...]:
        return await r.list_tags(apps(proxy.host, 1)[0])

    tags = run(go, reg)
    assert sorted(tags) == sorted(seeded.truth["test/app-0000"]["tags"])
    assert reg.stats["retries"] == 0 and transport.opened == 2


# -- the adaptive limit ---------------------------------------------------------------------

def test_limit_grows_past_its_start_when_latency_is_the_network(proxy: FaultProxy) -> None:
    """Every tag list takes 200 ms however many are in flight (a far registry): the limit
    grows from INITIAL towards the ceiling, and the proxy sees more than INITIAL at once."""
    proxy.add("slow", path="/tags/list", delay=0.2, times=-1)
    reg = make_registry(page_size=0, concurrency=24)
    results = run(lambda r: list_all(r, apps(proxy.host, 96)), reg)
    assert all(len(t) == APP_TAGS for t in results)
    limit = reg.limits[proxy.host]
    assert INITIAL < proxy.max_inflight <= 24
    assert limit.peak >= proxy.max_inflight
    assert limit.limit > INITIAL


def test_429s_halve_the_limit_down_to_the_floor(proxy: FaultProxy) -> None:
    """A registry that keeps answering 429: each round of answers halves the limit (once per
    round, not once per answer), so the retries go out at the floor's pace."""
    proxy.add("status", path="/tags/list", status=429, headers={"Retry-After": "0"}, times=-1)
    reg = make_registry(page_size=0)

    async def go(r: OciRegistry) -> list[BaseException | tuple[str, ...]]:
        return list(await asyncio.gather(*(r.list_tags(i) for i in apps(proxy.host, 6)),
                                         return_exceptions=True))

    results = run(go, reg)
    assert all(isinstance(e, RegistryError) and "429" in str(e) for e in results)
    assert reg.limits[proxy.host].limit == FLOOR
    assert reg.stats["tags"] == 6 * 3  # each image tried three times, none more


def test_fixed_when_adaptive_is_off(proxy: FaultProxy) -> None:
    proxy.add("slow", path="/tags/list", delay=0.05, times=-1)
    reg = make_registry(page_size=0, concurrency=6, adaptive=False)
    run(lambda r: list_all(r, apps(proxy.host, 24)), reg)
    assert proxy.max_inflight == 6 and reg.limits[proxy.host].limit == 6


def test_requests_per_second_cap(plain_registry: LocalRegistry) -> None:
    reg = make_registry(page_size=0, sleep=asyncio.sleep,
                        host_rate={plain_registry.host: 20.0})
    started = time.monotonic()
    run(lambda r: list_all(r, apps(plain_registry.host, 10)), reg)
    # 11 requests (the ping and ten lists) at 20 per second: at least half a second
    assert time.monotonic() - started >= 0.5 - 0.01
