"""End-to-end fixtures: a real registry, real git over HTTP, fake GitHub and GitLab servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promoter.demo.push import Pusher
from tests.servers.fake_github import FakeGitHub, load_spec
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.registry import LocalRegistry


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry("anonymous") as reg:
        yield reg


@pytest.fixture(scope="session")
def pusher(registry: LocalRegistry) -> Pusher:
    return Pusher(registry.url)


@pytest.fixture(scope="session")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("gh"), spec=load_spec()) as server:
        yield server


@pytest.fixture(scope="session")
def gitlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitLab]:
    with FakeGitLab(tmp_path_factory.mktemp("gl")) as server:
        yield server
