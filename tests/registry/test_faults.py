"""Faults between promoter and a real registry, injected by tests/servers/fault_proxy.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from promoter.errors import RegistryError
from promoter.refs import ImageRef
from promoter.registry.oci import RetryPolicy, retry_after
from promoter.registry.scan import scan
from tests.registry.conftest import APP_TAGS, Seeded, Sleeps, make_registry, run
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def _proxy(plain_registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(plain_registry.url) as proxy:
        yield proxy


@pytest.fixture
def proxy(_proxy: FaultProxy) -> Iterator[FaultProxy]:
    _proxy.clear()
    yield _proxy
    _proxy.clear()


def image(proxy: FaultProxy, repo: str = "test/app-0000") -> ImageRef:
    return ImageRef.parse(f"{proxy.host}/{repo}")


def tags_with(proxy: FaultProxy, **kw: Any) -> tuple[tuple[str, ...], Sleeps]:
    sleeps = Sleeps()
    r = make_registry(sleep=sleeps, page_size=0, **kw)
    return run(lambda c: c.list_tags(image(proxy)), r), sleeps


def fails_with(proxy: FaultProxy, **kw: Any) -> tuple[str, Sleeps]:
    sleeps = Sleeps()
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(image(proxy)), make_registry(sleep=sleeps, page_size=0, **kw))
    return str(e.value), sleeps


def test_500s_are_retried_with_exponential_backoff(proxy: FaultProxy) -> None:
    proxy.add("status", path="/tags/list", status=500, times=2)
    tags, sleeps = tags_with(proxy, retry=RetryPolicy(attempts=4, backoff=1.0), jitter=lambda: 1.0)
    assert len(tags) == APP_TAGS
    assert sleeps == [1.0, 2.0]
    assert [h[3] for h in proxy.hits if "tags" in h[1]] == [500, 500, 200]


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=8.0)
    assert [policy.delay(a, 0.0) for a in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(a, 1.0) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_persistent_500_fails_the_image(proxy: FaultProxy) -> None:
    proxy.add("status", path="/tags/list", status=503, times=-1)
    message, sleeps = fails_with(proxy)
    assert message == f"{proxy.host}/test/app-0000: {proxy.host} answered 503 (after 3 attempts)"
    assert len(sleeps) == 2


def test_429_waits_retry_after(proxy: FaultProxy) -> None:
    proxy.add("status", path="/tags/list", status=429, headers={"Retry-After": "7"})
    tags, sleeps = tags_with(proxy)
    assert len(tags) == APP_TAGS
    assert sleeps == [7.0]


def test_429_asking_for_too_long_fails_at_once(proxy: FaultProxy) -> None:
    proxy.add("status", path="/tags/list", status=429, times=-1,
              headers={"RateLimit-Remaining": "0;w=21600", "RateLimit-Limit": "100;w=21600"})
    message, sleeps = fails_with(proxy)
    assert message == (f"rate limited by {proxy.host} for {proxy.host}/test/app-0000 "
                       "(429, asks to wait 21600s)")
    assert sleeps == []


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "12"}, 12.0),
    ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 40.0),  # now is 60 s after the epoch
    ({"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),  # in the past
    ({"RateLimit-Reset": "30"}, 30.0),
    ({"X-RateLimit-Reset": "1700000060"}, 1700000060.0 - 60.0),  # GitHub style: epoch
    ({"RateLimit-Remaining": "0;w=21600"}, 21600.0),  # Docker Hub, exhausted
    ({"RateLimit-Remaining": "12;w=21600"}, None),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    import httpx

    assert retry_after(httpx.Headers(headers), now=60.0) == expected


def test_slow_response_times_out_and_is_retried(proxy: FaultProxy) -> None:
    proxy.add("slow", path="/tags/list", delay=1.5)
    tags, sleeps = tags_with(proxy, timeout=0.3)
    assert len(tags) == APP_TAGS and len(sleeps) == 1


def test_always_slow_fails_with_timeout(proxy: FaultProxy) -> None:
    proxy.add("slow", path="/tags/list", delay=1.0, times=-1)
    message, _ = fails_with(proxy, timeout=0.2, retry=RetryPolicy(attempts=2))
    assert message == f"{proxy.host}/test/app-0000: {proxy.host} timed out (after 2 attempts)"


@pytest.mark.parametrize("fault", ["truncate", "garbage", "drop"])
def test_truncated_answer_is_retried(proxy: FaultProxy, fault: str) -> None:
    proxy.add(fault, path="/tags/list")
    tags, sleeps = tags_with(proxy)
    # a connection closed with no answer, on a connection already used (the ping's), looks
    # like a server that dropped an idle keep-alive: the transport resends at once on a new
    # one; the others are errors of the answer itself, retried after a backoff
    assert len(tags) == APP_TAGS and len(sleeps) == (0 if fault == "drop" else 1)
    assert [h[3] for h in proxy.hits if "/tags/list" in h[1]][-1] == 200


@pytest.mark.parametrize(("fault", "reason"), [
    ("truncate", "{host} connection closed mid-answer"),
    ("garbage", "unreadable JSON from {host}"),
])
def test_always_truncated_fails(proxy: FaultProxy, fault: str, reason: str) -> None:
    proxy.add(fault, path="/tags/list", times=-1)
    message, _ = fails_with(proxy)
    assert message == (f"{proxy.host}/test/app-0000: {reason.format(host=proxy.host)} "
                       "(after 3 attempts)")


def test_truncated_manifest_get_is_retried(proxy: FaultProxy, seeded: Seeded) -> None:
    proxy.add("garbage", path="/manifests/")
    info = run(lambda c: c.manifest(image(proxy, "test/multi-0000:1.0.1"), created=True),
               make_registry())
    assert info.digest == seeded.truth["test/multi-0000"]["digests"]["1.0.1"]


def test_registry_going_away_mid_poll(plain_registry: LocalRegistry, seeded: Seeded) -> None:
    """The first three images are scanned, then the registry vanishes: the others fail with a
    reason each, the scan itself completes."""
    with FaultProxy(plain_registry.url) as proxy:
        proxy.add("gone", path="app-0003/tags/list")
        images = [image(proxy, f"test/app-{i:04d}") for i in range(6)]
        # real (short) sleeps: the retries come after the listener is closed
        client = make_registry(concurrency=1, page_size=0, sleep=asyncio.sleep,
                               retry=RetryPolicy(attempts=3, backoff=0.4))
        results = run(lambda c: scan(images, c), client)
    done = [r for r in results if r.error is None]
    assert [r.image.repository for r in done] == ["test/app-0000", "test/app-0001",
                                                  "test/app-0002"]
    for r in done:
        assert sorted(r.tags) == sorted(seeded.truth[r.image.repository]["tags"])
    assert all(r.tags == () for r in results[3:])
    reasons = ("cannot connect",)
    ends = ("(after 3 attempts)",
            "(gave up on this host after earlier requests failed every retry)")
    for r in results[3:]:
        assert r.error in [f"{r.image.name}: {proxy.host} {why} {end}"
                           for why in reasons for end in ends]
    assert results[-1].error and results[-1].error.endswith(ends[1])  # not retried in vain
    assert [h[2] for h in proxy.hits if "tags" in h[1]][:4] == ["pass"] * 3 + ["gone"]


@pytest.mark.parametrize(("limits", "expected"), [({}, 6), ({"{host}": 2}, 2)])
def test_per_registry_concurrency_limit(proxy: FaultProxy, limits: dict[str, int],
                                        expected: int) -> None:
    proxy.add("slow", path="/tags/list", delay=0.3, times=-1)
    images = [image(proxy, f"test/app-{i:04d}") for i in range(6)]
    host_limits = {k.format(host=proxy.host): v for k, v in limits.items()}
    r = make_registry(host_concurrency=host_limits, page_size=0)
    results = run(lambda c: scan(images, c), r)
    assert all(res.error is None for res in results)
    assert proxy.max_inflight == expected


def test_unreachable_registry_names_the_image() -> None:
    from tests.servers.registry import free_port

    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(ImageRef.parse(f"{host}/team/app")), make_registry())
    assert str(e.value) == f"{host}/team/app: {host} cannot connect (after 3 attempts)"


def test_not_a_registry(proxy: FaultProxy) -> None:
    proxy.add("status", path="^/v2/$", status=404)
    message, _ = fails_with(proxy)
    assert message == (f"{proxy.host}/test/app-0000: {proxy.host} is not a registry "
                       "(/v2/ answered 404)")
