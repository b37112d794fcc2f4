"""Charts behind the registry port: ChartRegistry over the in-memory registry and index, and
the real HttpChartIndex against a real HTTP Helm repository (tests/servers/helm.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from promoter.charts import CHART_MEDIA_TYPE, ChartSource, ChartVersion
from promoter.errors import RegistryError, RegistryRefused
from promoter.refs import ImageRef
from promoter.registry.charts import ChartRegistry, HttpChartIndex, MemoryChartIndex
from promoter.registry.creds import Credentials
from promoter.registry.httpcache import DiskCache, MemoryCache
from promoter.registry.memory import MemoryRegistry
from tests.servers.helm import HelmRepository

OCI = ChartSource(chart="web", repository="oci://r.example/charts")
HTTP = ChartSource(chart="web", repository="https://c.example/stable")


def _registry() -> tuple[ChartRegistry, MemoryRegistry, MemoryChartIndex]:
    reg, index = MemoryRegistry(), MemoryChartIndex()
    reg.push("r.example/charts/web:1.0.0")
    reg.push("r.example/charts/web:1.1.0_build.7")
    reg.push("ghcr.io/acme/api:2.0.0")
    index.publish(HTTP.repository, "web", "0.9.0",
                  ChartVersion(version="1.0.0", created=datetime(2026, 1, 2, tzinfo=UTC),
                               digest="sha256:" + "b" * 64))
    return ChartRegistry(reg, index, [OCI, HTTP]), reg, index


def test_oci_chart_tags_are_versions_and_back() -> None:
    charts, reg, _ = _registry()
    assert asyncio.run(charts.list_tags(OCI.ref)) == ("1.0.0", "1.1.0+build.7")
    info = asyncio.run(charts.manifest(OCI.ref.with_tag("1.1.0+build.7")))
    assert info == asyncio.run(reg.manifest(ImageRef.parse("r.example/charts/web:1.1.0_build.7")))


def test_http_chart_versions_come_from_the_index() -> None:
    charts, reg, index = _registry()
    assert asyncio.run(charts.list_tags(HTTP.ref)) == ("0.9.0", "1.0.0")
    info = asyncio.run(charts.manifest(HTTP.ref.with_tag("1.0.0"), created=True))
    assert (info.digest, info.media_type, info.created) == (
        "sha256:" + "b" * 64, CHART_MEDIA_TYPE, datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(RegistryRefused) as e:
        asyncio.run(charts.manifest(HTTP.ref.with_tag("3.0.0")))
    assert str(e.value) == ("https://c.example/stable/index.yaml: no version 3.0.0 of chart "
                            "'web'")
    asyncio.run(charts.prepare([HTTP.ref, OCI.ref]))
    assert ("prepare", "r.example/charts/web") in reg.calls
    assert not any(ref.startswith("c.example") for _, ref in reg.calls)  # never asked as OCI


def test_other_references_go_to_the_wrapped_registry() -> None:
    charts, _, index = _registry()
    assert asyncio.run(charts.list_tags(ImageRef.parse("ghcr.io/acme/api"))) == ("2.0.0",)
    assert index.calls == []


def test_unknown_chart_in_an_index() -> None:
    charts, _, _ = _registry()
    other = ChartSource(chart="nope", repository=HTTP.repository)
    with pytest.raises(RegistryRefused) as e:
        asyncio.run(ChartRegistry(MemoryRegistry(), charts.index, [other]).list_tags(other.ref))
    assert str(e.value) == "https://c.example/stable/index.yaml: no chart 'nope' in the index"


async def _versions(index: HttpChartIndex, *sources: ChartSource
                    ) -> list[tuple[str, ...] | str]:
    out: list[tuple[str, ...] | str] = []
    async with index:
        for result in await asyncio.gather(*(index.versions(s) for s in sources),
                                           return_exceptions=True):
            out.append(str(result) if isinstance(result, BaseException)
                       else tuple(v.version for v in result))
    return out


def test_http_index_once_per_run_then_with_validators(tmp_path: Path) -> None:
    with HelmRepository(tmp_path) as repo:
        repo.add("web", "1.0.0")
        repo.add("web", "1.1.0")
        repo.add("db", "2.0.0")
        web = ChartSource(chart="web", repository=repo.url)
        db = ChartSource(chart="db", repository=repo.url + "/")
        cache = MemoryCache()
        first = HttpChartIndex(kept=cache)
        assert asyncio.run(_versions(first, web, db, web)) == [
            ("1.1.0", "1.0.0"), ("2.0.0",), ("1.1.0", "1.0.0")]
        assert first.stats == {"index": 1, "not_modified": 0}
        (headers,) = repo.index_requests()
        assert "If-None-Match" not in headers

        second = HttpChartIndex(kept=cache)  # the next poll of a watch
        assert asyncio.run(_versions(second, web)) == [("1.1.0", "1.0.0")]
        assert second.stats == {"index": 1, "not_modified": 1}
        sent = list(repo.index_requests())[-1]
        assert sent["If-None-Match"].startswith('"')
        assert sent["If-Modified-Since"] == "Thu, 01 Jan 2026 00:00:00 GMT"

        repo.add("web", "1.2.0")  # the index changes: a full answer again
        third = HttpChartIndex(kept=cache)
        assert asyncio.run(_versions(third, web)) == [("1.2.0", "1.1.0", "1.0.0")]
        assert third.stats == {"index": 1, "not_modified": 0}


def test_http_index_basic_auth_and_errors(tmp_path: Path) -> None:
    with HelmRepository(tmp_path, auth=("bot", "s3cret")) as repo:
        repo.add("web", "1.0.0")
        web = ChartSource(chart="web", repository=repo.url)
        assert asyncio.run(_versions(HttpChartIndex(), web)) == [
            f"{repo.url}/index.yaml: answered 401"]
        creds = {"127.0.0.1:" + repo.url.split(":")[2].split("/")[0]:
                 Credentials(username="bot", password="s3cret")}
        assert asyncio.run(_versions(HttpChartIndex(credentials=creds.get), web)) == [
            ("1.0.0",)]
        missing = ChartSource(chart="web", repository=repo.url + "/nope")
        assert asyncio.run(_versions(HttpChartIndex(credentials=creds.get), missing)) == [
            f"{repo.url}/nope/index.yaml: answered 404"]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.raises(RegistryError) as e:
        asyncio.run(_raise(HttpChartIndex(retries=2, sleep=sleep), web))
    assert str(e.value) == (f"{repo.url}/index.yaml: cannot fetch the index: ConnectError "
                            "(after 3 attempts)")
    assert slept == [1.0, 2.0]
    assert not isinstance(e.value, RegistryRefused)  # a repository that is down: retry later


async def _raise(index: HttpChartIndex, source: ChartSource) -> None:
    async with index:
        await index.versions(source)


def test_credentials_never_go_over_plain_http_to_other_hosts() -> None:
    index = HttpChartIndex(credentials=lambda host: Credentials(username="u", password="p"))
    assert index._auth("http://charts.example.com/index.yaml") is None
    assert index._auth("https://charts.example.com/index.yaml") is not None


def test_min_age_and_newest_build_read_the_index_created() -> None:
    """choose() asks the chart registry for build times: an HTTP chart's ``created``."""
    from promoter.policy import TagPolicy
    from promoter.registry.choose import choose

    index = MemoryChartIndex()
    index.publish(HTTP.repository, "web",
                  ChartVersion(version="1.0.0", created=datetime(2026, 1, 1, tzinfo=UTC)),
                  ChartVersion(version="1.1.0", created=datetime(2026, 1, 9, tzinfo=UTC)),
                  ChartVersion(version="0.5.0", created=datetime(2026, 1, 5, tzinfo=UTC)))
    charts = ChartRegistry(MemoryRegistry(), index, [HTTP])
    now = datetime(2026, 1, 10, tzinfo=UTC)
    young = asyncio.run(choose(charts, HTTP.ref, TagPolicy(strategy="semver",
                                                           min_age=timedelta(days=3)),
                               current="0.5.0", now=now))
    assert (young.chosen, [t for t, _ in young.too_young]) == ("1.0.0", ["1.1.0"])
    newest = asyncio.run(choose(charts, HTTP.ref, TagPolicy(strategy="newest-build"), now=now))
    assert newest.chosen == "1.1.0"


def test_http_index_kept_on_disk_between_runs(tmp_path: Path) -> None:
    """With PROMOTER_CACHE_DIR (a DiskCache), a cron run asks with the last run's validators."""
    (tmp_path / "charts").mkdir()
    with HelmRepository(tmp_path / "charts") as repo:
        repo.add("web", "1.0.0")
        web = ChartSource(chart="web", repository=repo.url)
        for _ in range(2):
            index = HttpChartIndex(kept=DiskCache(tmp_path / "cache"))
            assert asyncio.run(_versions(index, web)) == [("1.0.0",)]
        assert index.stats == {"index": 1, "not_modified": 1}


def test_http_index_asks_again_after_429_and_5xx() -> None:
    answers = [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "7"}),
               httpx.Response(200, text="apiVersion: v1\nentries:\n  web:\n  - version: 2.0.0\n")]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return answers.pop(0)

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    index = HttpChartIndex(transport=httpx.MockTransport(handler), sleep=sleep)
    assert asyncio.run(_versions(index, HTTP)) == [("2.0.0",)]
    assert seen == ["https://c.example/stable/index.yaml"] * 3
    assert slept == [1.0, 7.0]
    answers[:] = [httpx.Response(500)] * 4
    assert asyncio.run(_versions(HttpChartIndex(transport=httpx.MockTransport(handler),
                                                sleep=sleep), HTTP)) == [
        "https://c.example/stable/index.yaml: answered 500 (after 4 attempts)"]
