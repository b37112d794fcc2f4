"""Fixtures the action tests share: a seeded local registry, the demo's GitOps repository
pointing at it, and a fake GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promoter.demo.run import write_repo
from tests.ci.actions import seeded_registry
from tests.servers.fake_github import FakeGitHub, load_spec


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with seeded_registry() as host:
        yield host


@pytest.fixture
def repo(tmp_path: Path, registry: str) -> Path:
    path = tmp_path / "gitops"
    write_repo(path, registry)
    return path


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("gh"), spec=load_spec()) as server:
        yield server
