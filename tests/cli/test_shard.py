"""``--shard I/N`` on plan, poll and promote: every image in exactly one shard."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.config import parse_config
from promoter.demo.run import write_repo
from tests.ci.actions import seeded_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    with seeded_registry() as h:
        yield h


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, host: str) -> Path:
    path = tmp_path_factory.mktemp("shard") / "gitops"
    write_repo(path, host)
    return path


def test_poll_shards_each_create_only_their_own_branches(
        host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = tmp_path / "gitops"
    write_repo(fresh, host)
    cfg = parse_config((fresh / ".promoter.yaml").read_text(), file=".promoter.yaml")
    seen: list[str] = []
    for i in (1, 2, 3):
        assert main(["poll", "--repo", str(fresh), "--shard", f"{i}/3"]) == 0
        capsys.readouterr()
        branches = subprocess.run(["git", "-C", str(fresh), "branch", "--list", "promoter/*",
                                   "--format=%(refname:short)"], capture_output=True,
                                  text=True, check=True).stdout.split()
        new = sorted(set(branches) - set(seen))
        assert new == sorted(f"promoter/dev/{img.name}" for img in cfg.shard(i - 1, 3))
        seen = branches
    assert sorted(seen) == ["promoter/dev/api", "promoter/dev/web"]


def _planned(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[str]:
    assert main(["plan", "--repo", str(repo), "--output", "json", *extra]) == 0
    return sorted(u["image"] for pr in json.loads(capsys.readouterr().out)["plan"]
                  for u in pr["updates"])


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_the_images(repo: Path, capsys: pytest.CaptureFixture[str],
                                     count: int) -> None:
    everything = _planned(repo, capsys)
    assert everything == ["api", "web"]
    parts = [_planned(repo, capsys, "--shard", f"{i}/{count}") for i in range(1, count + 1)]
    assert sorted(x for p in parts for x in p) == everything  # each image in one shard only
    cfg = parse_config((repo / ".promoter.yaml").read_text(), file=".promoter.yaml")
    for i, part in enumerate(parts):  # the same split as Config.shard (0-based)
        assert part == sorted(img.name for img in cfg.shard(i, count))


def test_shard_applies_to_poll_and_promote(repo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = parse_config((repo / ".promoter.yaml").read_text(), file=".promoter.yaml")
    empty = next(i for i in range(1, 9) if not cfg.shard(i - 1, 8))  # 2 images, 8 shards
    assert main(["poll", "--repo", str(repo), "--dry-run", "--output", "json",
                 "--shard", f"{empty}/8"]) == 0
    assert json.loads(capsys.readouterr().out)["plan"] == []
    assert main(["promote", "--repo", str(repo), "--dry-run", "--output", "json",
                 "--shard", f"{empty}/8"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == []


@pytest.mark.parametrize("bad", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2", "1/2/3"])
def test_a_bad_shard_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str],
                                      bad: str) -> None:
    for cmd in ("plan", "poll", "promote"):
        assert main([cmd, "--repo", str(repo), "--shard", bad]) == 2
        assert "--shard" in capsys.readouterr().err


def test_shards_of_grouped_pull_requests_are_refused(
        repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (repo / ".promoter.yaml").read_text()
    assert "pull-requests:" not in text
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text(text + "pull-requests:\n  group: environment\n")
    assert main(["plan", "--repo", str(repo), "--config", str(grouped), "--shard", "1/2"]) == 2
    assert "pull-requests.group: image" in capsys.readouterr().err
    assert main(["plan", "--repo", str(repo), "--config", str(grouped), "--shard", "1/1"]) == 0
