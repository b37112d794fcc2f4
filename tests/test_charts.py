"""The pure chart helpers: identities, repository comparison, OCI tags, index.yaml."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promoter.charts import (
    ChartSource,
    ChartVersion,
    parse_index,
    same_repository,
    tag_of_version,
    version_of_tag,
)
from promoter.errors import RegistryError
from promoter.refs import ImageRef


def test_refs() -> None:
    assert ChartSource(chart="podinfo", repository="oci://GHCR.io/stefanprodan/charts").ref == \
        ImageRef("ghcr.io", "stefanprodan/charts/podinfo")
    assert ChartSource(chart="web", repository="http://localhost:8080").ref == \
        ImageRef("localhost:8080", "web")
    assert ChartSource(chart="web", repository="https://c.example/a").index_url == \
        "https://c.example/a/index.yaml"


@pytest.mark.parametrize(("written", "same"), [
    (None, True), ("oci://ghcr.io/acme/charts", True), ("ghcr.io/acme/charts/", True),
    ("https://GHCR.IO/acme/charts", True), ("ghcr.io/acme", False),
    ("ghcr.io/acme/charts/web", False)])
def test_same_repository(written: str | None, same: bool) -> None:
    assert same_repository(written, ChartSource(chart="web",
                                                repository="oci://ghcr.io/acme/charts")) is same


def test_oci_tags() -> None:
    assert version_of_tag("1.2.3_build.5") == "1.2.3+build.5"
    assert tag_of_version("1.2.3+build.5") == "1.2.3_build.5"
    assert version_of_tag("1.2.3-rc.1") == "1.2.3-rc.1"


def test_parse_index() -> None:
    text = """apiVersion: v1
entries:
  web:
  - version: 1.2.0
    created: "2024-03-01T10:00:00.123456789Z"
    digest: %s
  - version: 1.10
    created: 2024-02-01T00:00:00Z
  - {created: "2024-01-01T00:00:00Z"}
  - version: "bad version"
  - version: [1]
  other: []
  broken: {}
generated: "2024-03-01T10:00:00Z"
""" % ("a" * 64)
    assert parse_index(text) == {
        "web": (ChartVersion(version="1.2.0", created=datetime(2024, 3, 1, 10, 0, 0, 123456,
                                                               tzinfo=UTC),
                             digest="sha256:" + "a" * 64),
                ChartVersion(version="1.10", created=datetime(2024, 2, 1, tzinfo=UTC))),
        "other": (),
    }


@pytest.mark.parametrize(("text", "message"), [
    ("entries: [oops\n", "https://c.example/index.yaml:2:1: not a Helm repository index "
                         "(invalid YAML)"),
    ("<html>not found</html>\n", "https://c.example/index.yaml: not a Helm repository index "
                                 "(no entries mapping)"),
])
def test_parse_index_errors(text: str, message: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_index(text, url="https://c.example/index.yaml")
    assert str(info.value) == message
