"""A hostile or broken registry (issue 15, items 6 and 7), in front of the real docker-registry:
answers dribbled one byte at a time end at a deadline, and tag lists holding text that is not
an OCI tag (a newline, shell text, a workflow command, a JSON number) lose those entries, each
named in a warning, never in a file, a URL or an ``unexpected error``."""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from promoter.cli import main
from promoter.errors import InputError, RegistryError
from promoter.refs import ImageRef
from promoter.registry.oci import MAX_TAG_WARNINGS, RetryPolicy
from tests.registry.conftest import APP_TAGS, Seeded, make_registry, run
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration

REPO = "test/app-0000"
HOSTILE: list[object] = ["9.9.9\n", "99.0.0 ", "x y$(id)", "::error::pwned", 42, None,
                         {"a": 1}, "-rf", "a" * 200, "\u0661.0.0"]


@pytest.fixture
def proxy(plain_registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(plain_registry.url) as p:
        yield p


def _add_tags(extra: list[object]) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        doc = json.loads(body)
        doc["tags"] = [*extra, *doc["tags"]]
        return json.dumps(doc).encode()

    return rewrite


def _dribbled(proxy: FaultProxy, **kw: Any) -> tuple[str, list[str]]:
    """The error of listing tags from a registry that sends a byte every 50 ms (30 tags take
    about 30 s), and the faults of the tags/list requests made."""
    proxy.add("dribble", path="/tags/list", delay=0.05, times=-1)
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
            make_registry(page_size=0, timeout=5.0, **kw))
    assert time.monotonic() - started < 10  # each byte came well within the read timeout
    return str(info.value), [h[2] for h in proxy.hits if "/tags/list" in h[1]]


def test_a_dribbling_registry_ends_at_the_request_deadline(proxy: FaultProxy) -> None:
    message, hits = _dribbled(proxy, request_deadline=0.6, retry=RetryPolicy(attempts=2))
    assert message == (f"{proxy.host}/{REPO}: {proxy.host} sent no complete answer within "
                       "0.6s (after 2 attempts)")
    assert hits == ["dribble", "dribble"]


def test_a_dribbling_registry_ends_at_the_run_deadline(proxy: FaultProxy) -> None:
    message, hits = _dribbled(proxy, request_deadline=0.5, run_deadline=1.2,
                              retry=RetryPolicy(attempts=50))
    assert message == (f"{proxy.host}/{REPO}: gave up: the registry requests of this run took "
                       "longer than its deadline of 1.2s")
    assert 2 <= len(hits) <= 4


def test_tags_that_are_not_oci_tags_are_skipped_and_named(
        proxy: FaultProxy, seeded: Seeded, caplog: pytest.LogCaptureFixture) -> None:
    proxy.add("rewrite", path="/tags/list", times=-1, rewrite=_add_tags(HOSTILE[:5]))
    with caplog.at_level(logging.WARNING, logger="promoter"):
        tags = run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
                   make_registry(page_size=0))
    assert sorted(tags) == sorted(seeded.truth[REPO]["tags"])
    what = f"{proxy.host}/{REPO}"
    assert caplog.messages == [
        f"{what}: skipped tag '9.9.9\\n' from the registry: character '\\n' at 6: only A-Z "
        "a-z 0-9 _ . - are allowed",
        f"{what}: skipped tag '99.0.0 ' from the registry: character ' ' at 7: only A-Z a-z "
        "0-9 _ . - are allowed",
        f"{what}: skipped tag 'x y$(id)' from the registry: character ' ' at 2: only A-Z a-z "
        "0-9 _ . - are allowed",
        f"{what}: skipped tag '::error::pwned' from the registry: character ':' at 1: only "
        "A-Z a-z 0-9 _ . - are allowed",
        f"{what}: skipped tag 42 from the registry: not a string but a JSON number",
    ]


def test_a_flood_of_bad_tags_is_counted_not_listed(
        proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    proxy.add("rewrite", path="/tags/list", times=-1, rewrite=_add_tags(HOSTILE))
    with caplog.at_level(logging.WARNING, logger="promoter"):
        run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
            make_registry(page_size=0))
    assert len(caplog.messages) == MAX_TAG_WARNINGS + 1
    assert caplog.messages[-1] == (f"{proxy.host}/{REPO}: skipped "
                                   f"{len(HOSTILE) - MAX_TAG_WARNINGS} more invalid tags from "
                                   "the registry")


def test_promoter_tags_skips_a_newline_tag_even_with_a_dollar_allow(
        proxy: FaultProxy, plain_registry: LocalRegistry, seeded: Seeded,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's probe: ``"9.9.9\\n"`` was chosen (``$`` matched before the newline) and
    ended in ``unexpected error: InvalidURL``."""
    args = ["tags", "--allow", "^[0-9.]+$", "--output", "json"]
    assert main([*args, f"{plain_registry.host}/{REPO}"]) == 0
    honest = json.loads(capsys.readouterr().out)
    proxy.add("rewrite", path="/tags/list", times=-1, rewrite=_add_tags(HOSTILE))
    code = main([*args, f"{proxy.host}/{REPO}"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0
    assert (doc["chosen"], doc["candidates"], doc["errors"]) == \
        (honest["chosen"], honest["candidates"], [])
    assert "skipped tag '9.9.9\\n' from the registry" in err
    assert "unexpected error" not in out + err
    assert not any("9.9.9" in path for _, path, _, _ in proxy.hits)  # never asked for


def test_a_tag_that_is_not_one_never_reaches_a_url(proxy: FaultProxy) -> None:
    image = ImageRef(proxy.host, REPO, tag="1.0.0\nHost: evil")
    with pytest.raises(InputError) as info:
        run(lambda r: r.manifest(image), make_registry())
    assert str(info.value) == (f"{proxy.host}/{REPO}: not a valid tag: '1.0.0\\nHost: evil' "
                               "(character '\\n' at 6: only A-Z a-z 0-9 _ . - are allowed)")
    assert proxy.hits == []


def test_an_answer_longer_than_max_body_is_not_read(proxy: FaultProxy) -> None:
    with pytest.raises(RegistryError) as info:
        run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
            make_registry(page_size=0, max_body=100))
    assert str(info.value) == (f"{proxy.host}/{REPO}: {proxy.host} sent more than 100 bytes; "
                               "not read further")


def test_a_gzip_bomb_is_not_unpacked_past_max_body(proxy: FaultProxy) -> None:
    bomb = gzip.compress(b'{"tags": ["1.0.0"' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    proxy.add("rewrite", path="/tags/list", times=-1, rewrite=lambda body: bomb,
              headers={"Content-Encoding": "gzip"})
    with pytest.raises(RegistryError) as info:
        run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
            make_registry(page_size=0, max_body=1_000_000))
    assert str(info.value) == (f"{proxy.host}/{REPO}: {proxy.host} sent more than 1,000,000 "
                               "bytes; not read further")
    proxy.clear()
    proxy.add("rewrite", path="/tags/list", times=-1, rewrite=lambda body: gzip.compress(body),
              headers={"Content-Encoding": "gzip"})  # an honest compressed answer still reads
    tags = run(lambda r: r.list_tags(ImageRef.parse(f"{proxy.host}/{REPO}")),
               make_registry(page_size=0, max_body=1_000_000))
    assert len(tags) == APP_TAGS
