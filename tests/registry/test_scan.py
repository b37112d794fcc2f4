"""scan() over the in-memory registry, and one contract run against both implementations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from promoter.errors import InputError, RegistryError
from promoter.refs import ImageRef
from promoter.registry import ManifestInfo, Registry, ScanResult
from promoter.registry.memory import MemoryRegistry
from promoter.registry.scan import scan, scan_blocking
from tests.registry.conftest import Seeded, make_registry
from tests.servers.registry import LocalRegistry

T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 6, 1, tzinfo=UTC)


def memory() -> MemoryRegistry:
    reg = MemoryRegistry()
    for tag, when in (("1.0.0", T1), ("1.1.0", T2), ("2.0.0-rc.1", T2)):
        reg.push(f"ghcr.io/acme/app:{tag}", created=when)
    reg.push("ghcr.io/acme/multi:1.0.0", created=T1, platforms=("linux/amd64", "linux/arm64"))
    reg.push("quay.io/acme/other:3")
    return reg


def newest(image: ImageRef, tags: tuple[str, ...]) -> list[str]:
    return [max(tags)] if tags else []


def test_results_in_input_order_with_failures_captured() -> None:
    reg = memory()
    reg.fail("quay.io/acme/other", "quay.io/acme/other: quay.io answered 500 (after 4 attempts)")
    images = [ImageRef.parse(t) for t in ("quay.io/acme/other:3", "ghcr.io/acme/app:1.0.0",
                                          "ghcr.io/acme/missing:1")]
    rc = asyncio.run(reg.manifest(ImageRef.parse("ghcr.io/acme/app:2.0.0-rc.1")))
    results = asyncio.run(scan(images, reg, pick=newest))
    assert results == (
        ScanResult(image=images[0],
                   error="quay.io/acme/other: quay.io answered 500 (after 4 attempts)",
                   retryable=True),
        ScanResult(image=images[1], tags=("1.0.0", "1.1.0", "2.0.0-rc.1"),
                   manifests={"2.0.0-rc.1": ManifestInfo(
                       digest=rc.digest, media_type="application/vnd.oci.image.manifest.v1+json")}),
        ScanResult(image=images[2],
                   error="repository not found: ghcr.io/acme/missing (NAME_UNKNOWN)"),
    )


def test_known_digest_of_the_running_tag_needs_no_request() -> None:
    reg = memory()
    running = ImageRef.parse("ghcr.io/acme/app:1.1.0@sha256:" + "ab" * 32)
    (result,) = asyncio.run(scan([running], reg, pick=lambda i, t: ["1.1.0"]))
    assert result.manifests == {"1.1.0": ManifestInfo(digest="sha256:" + "ab" * 32,
                                                      media_type="")}
    assert [c for c in reg.calls if c[0] == "manifest"] == []
    # asking for the build time does need the manifest
    (result,) = asyncio.run(scan([running], reg, pick=lambda i, t: ["1.1.0"], created=True))
    assert result.manifests["1.1.0"].created == T2
    assert [c for c in reg.calls if c[0] == "manifest"] == [("manifest", "ghcr.io/acme/app:1.1.0")]


def test_one_listing_per_repository() -> None:
    reg = memory()
    images = [ImageRef.parse("ghcr.io/acme/app:1.0.0"), ImageRef.parse("ghcr.io/acme/app:1.1.0"),
              ImageRef.parse("ghcr.io/acme/app")]
    results = asyncio.run(scan(images, reg))
    assert [len(r.tags) for r in results] == [3, 3, 3]
    assert [c for c in reg.calls if c[0] == "list_tags"] == [("list_tags", "ghcr.io/acme/app")]
    assert [c for c in reg.calls if c[0] == "prepare"] == [("prepare", "ghcr.io/acme/app")] * 3


def test_a_failing_policy_fails_only_its_image() -> None:
    def pick(image: ImageRef, tags: tuple[str, ...]) -> list[str]:
        if image.repository == "acme/app":
            raise InputError("bad range '^x' for ghcr.io/acme/app")
        if image.registry == "quay.io":
            raise KeyError("boom")
        return []

    images = [ImageRef.parse(t) for t in ("ghcr.io/acme/app", "quay.io/acme/other",
                                          "ghcr.io/acme/multi")]
    results = asyncio.run(scan(images, memory(), pick=pick))
    assert [r.error for r in results] == ["bad range '^x' for ghcr.io/acme/app",
                                          "unexpected error: KeyError: 'boom'", None]
    assert results[0].tags == ("1.0.0", "1.1.0", "2.0.0-rc.1")


def test_scan_blocking_and_empty_scan() -> None:
    reg = memory()
    (result,) = scan_blocking([ImageRef.parse("quay.io/acme/other")], registry=reg)
    assert result.tags == ("3",) and result.error is None
    assert scan_blocking([], registry=reg) == ()


def test_memory_registry_state() -> None:
    reg = memory()
    image = ImageRef.parse("ghcr.io/acme/app:1.1.0")
    first = asyncio.run(reg.manifest(image)).digest
    reg.push("ghcr.io/acme/app:1.1.0", created=T1)  # re-pushed: the tag moves
    assert asyncio.run(reg.manifest(image)).digest != first
    reg.delete("ghcr.io/acme/app:1.0.0")
    assert asyncio.run(reg.list_tags(image)) == ("2.0.0-rc.1", "1.1.0")
    reg.delete("ghcr.io/acme/app")
    with pytest.raises(RegistryError):
        asyncio.run(reg.list_tags(image))
    reg.fail("quay.io/acme/other", "down")
    reg.fail("quay.io/acme/other", None)
    assert asyncio.run(reg.list_tags(ImageRef.parse("quay.io/acme/other"))) == ("3",)


# -- contract: the same checks against MemoryRegistry and the real OciRegistry ----------------

@pytest.fixture(params=["memory", "oci"])
def contract(request: pytest.FixtureRequest) -> tuple[str, Callable[[], Any]]:
    """(host, factory of an async context giving a Registry holding the seeded repositories)."""
    if request.param == "oci":
        reg: LocalRegistry = request.getfixturevalue("plain_registry")

        @asynccontextmanager
        async def real() -> AsyncIterator[Registry]:
            async with make_registry(reg) as r:
                yield r

        return reg.host, real
    seeded: Seeded = request.getfixturevalue("seeded")
    host = "registry.test:5000"
    mem = MemoryRegistry()
    for repo, truth in seeded.truth.items():
        platforms = ("linux/amd64", "linux/arm64") if truth["multiarch"] else ()
        for tag in truth["tags"]:
            mem.push(f"{host}/{repo}:{tag}", digest=truth["digests"][tag], created=T1,
                     platforms=platforms)

    @asynccontextmanager
    async def fake() -> AsyncIterator[Registry]:
        yield mem

    return host, fake


def check(contract: tuple[str, Callable[[], Any]],
          body: Callable[[Registry, str], Awaitable[None]]) -> None:
    host, factory = contract

    async def main() -> None:
        async with factory() as reg:
            await body(reg, host)

    asyncio.run(main())


def test_contract_tags_and_digests(contract: tuple[str, Callable[[], Any]],
                                   seeded: Seeded) -> None:
    truth = seeded.truth["test/app-0002"]

    async def body(reg: Registry, host: str) -> None:
        image = ImageRef.parse(f"{host}/test/app-0002")
        assert sorted(await reg.list_tags(image)) == sorted(truth["tags"])
        info = await reg.manifest(image.with_tag("1.0.7"))
        assert info.digest == truth["digests"]["1.0.7"]
        assert info.created is None and info.platforms == ()

    check(contract, body)


def test_contract_multiarch(contract: tuple[str, Callable[[], Any]], seeded: Seeded) -> None:
    async def body(reg: Registry, host: str) -> None:
        image = ImageRef.parse(f"{host}/test/multi-0000:1.0.3")
        info = await reg.manifest(image, created=True, platform="linux/arm64")
        assert info.digest == seeded.truth["test/multi-0000"]["digests"]["1.0.3"]
        assert info.created == T1 and info.platforms == ("linux/amd64", "linux/arm64")
        with pytest.raises(RegistryError) as e:
            await reg.manifest(image, platform="linux/s390x")
        assert str(e.value) == (f"{host}/test/multi-0000:1.0.3: no linux/s390x manifest in the "
                                "index (has linux/amd64, linux/arm64)")

    check(contract, body)


def test_contract_errors(contract: tuple[str, Callable[[], Any]]) -> None:
    async def body(reg: Registry, host: str) -> None:
        with pytest.raises(RegistryError) as e:
            await reg.list_tags(ImageRef.parse(f"{host}/nope/missing"))
        assert str(e.value) == f"repository not found: {host}/nope/missing (NAME_UNKNOWN)"
        with pytest.raises(RegistryError) as e:
            await reg.manifest(ImageRef.parse(f"{host}/test/app-0000:0.0.0"))
        assert str(e.value) == f"not found: {host}/test/app-0000:0.0.0 (MANIFEST_UNKNOWN)"

    check(contract, body)


def test_scan_errors_are_redacted() -> None:
    from promoter import secrets

    secrets.register("hunter2-registry-secret")
    reg = memory()
    reg.fail("quay.io/acme/other", "quay.io/acme/other: refused hunter2-registry-secret")
    (result,) = asyncio.run(scan([ImageRef.parse("quay.io/acme/other")], reg))
    assert result.error == "quay.io/acme/other: refused ***"
