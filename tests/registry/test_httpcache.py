"""Registry answers kept across runs (promoter.registry.httpcache) against the real
docker-registry: content-addressed answers are not asked again, tag-addressed ones are asked
with their ETag and a 304 keeps them; a moved tag is seen at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promoter.demo.push import Pusher
from promoter.registry import ManifestInfo
from promoter.registry.httpcache import Cached, DiskCache, MemoryCache, immutable
from promoter.registry.oci import OciRegistry
from tests.registry.conftest import Seeded, make_registry, ref, run
from tests.servers.registry import LocalRegistry


def test_immutable_paths_are_the_digest_ones() -> None:
    d = "sha256:" + "a" * 64
    assert immutable(f"http://h/v2/x/y/manifests/{d}")
    assert immutable(f"http://h/v2/x/y/blobs/{d}")
    assert not immutable("http://h/v2/x/y/manifests/1.0.0")
    assert not immutable("http://h/v2/x/y/tags/list?n=100")
    assert not immutable(f"http://h/v2/x/y/manifests/{d[:-1]}")


def _created_twice(registry: LocalRegistry, image: str, kept: MemoryCache | DiskCache
                   ) -> tuple[ManifestInfo, ManifestInfo, OciRegistry, OciRegistry]:
    first, second = make_registry(registry, http_cache=kept), make_registry(registry,
                                                                            http_cache=kept)
    a = run(lambda c: c.manifest(ref(registry, image), created=True), first)
    b = run(lambda c: c.manifest(ref(registry, image), created=True), second)
    return a, b, first, second


def test_a_second_run_revalidates_the_manifest_and_reads_no_blob(
        registry: LocalRegistry, seeded: Seeded) -> None:
    a, b, first, second = _created_twice(registry, "test/multi-0000:1.0.2", MemoryCache())
    assert a == b and a.created is not None
    assert first.stats["blob"] == 1 and first.stats["manifest_get"] == 2  # index + platform
    # the index by tag is asked with its ETag (304); its platform manifest and the config
    # blob are named by digest: kept, not asked
    assert second.stats["blob"] == 0 and second.stats["manifest_get"] == 1
    assert second.stats["revalidated"] == 1 and second.stats["cached"] == 2


def test_the_disk_cache_carries_answers_to_the_next_process(registry: LocalRegistry,
                                                            seeded: Seeded,
                                                            tmp_path: Path) -> None:
    root = tmp_path / "cache"
    a, b, _, second = _created_twice(registry, "test/multi-0000:1.0.2", DiskCache(root))
    assert a == b and second.stats["blob"] == 0
    files = [p for p in root.rglob("*.json")]
    assert files and all(oct(p.parent.stat().st_mode)[-3:] == "700" for p in files)
    # no credential in what is kept
    for p in files:
        assert "Authorization" not in p.read_text() and (registry.password or "\0") not in \
            p.read_text()


def test_a_moved_tag_is_seen_and_a_broken_entry_is_asked_again(tmp_path: Path) -> None:
    with LocalRegistry("anonymous") as reg:
        pusher = Pusher(reg.url)
        old = pusher.push("moving/app", "stable", created="2026-01-01T00:00:00Z")
        kept = DiskCache(tmp_path / "cache")
        image = ref(reg, "moving/app:stable")
        info = run(lambda c: c.manifest(image, created=True), make_registry(reg, http_cache=kept))
        assert info.digest == old
        new = pusher.push("moving/app", "stable", created="2026-02-01T00:00:00Z")
        again = make_registry(reg, http_cache=kept)
        moved = run(lambda c: c.manifest(image, created=True), again)
        assert (moved.digest, moved.created and moved.created.month) == (new, 2)
        assert again.stats["revalidated"] == 0 and again.stats["blob"] == 1
        for p in (tmp_path / "cache").rglob("*.json"):
            p.write_text("{not json")
        broken = make_registry(reg, http_cache=kept)
        assert run(lambda c: c.manifest(image, created=True), broken).digest == new
        assert broken.stats["cached"] == 0 and broken.stats["blob"] == 1


def test_a_kept_body_that_does_not_parse_is_fetched_whole(tmp_path: Path) -> None:
    with LocalRegistry("anonymous") as reg:
        Pusher(reg.url).push("bad/app", "1.0.0")
        kept = MemoryCache()
        image = ref(reg, "bad/app:1.0.0")
        run(lambda c: c.manifest(image, created=True), make_registry(reg, http_cache=kept))
        for key in list(kept._entries):
            old = kept._entries[key]
            kept.put(key, Cached(body=b"\xff garbage", headers=old.headers))
        info = run(lambda c: c.manifest(image, created=True), make_registry(reg, http_cache=kept))
        assert info.created is not None
        doc = json.loads(next(iter(kept._entries.values())).body)
        assert isinstance(doc, dict)


def test_an_unwritable_cache_costs_requests_not_the_run(registry: LocalRegistry,
                                                        seeded: Seeded, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    root = tmp_path / "not-a-directory"
    root.write_text("a file where the cache directory should be\n")
    a, b, _, second = _created_twice(registry, "test/multi-0000:1.0.2", DiskCache(root))
    assert a == b and second.stats["blob"] == 1
    assert "registry cache: cannot write" in caplog.text
