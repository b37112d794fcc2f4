"""A fleet through the CLI: ``poll --fleet``, ``--repo`` twice, discovery on the fake GitHub
and GitLab (real PyGithub / python-gitlab), the real registry read once per image for every
repository, and one broken repository that stops no other."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promoter.cli import main
from promoter.demo.push import Pusher
from tests.forge import openapi
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: {shared}
    newTag: "1.0.0"   # shared by the fleet
  - name: {own}
    newTag: '1.0.0'
"""

CONFIG = """\
environments:
  - name: dev
    paths: [overlays/dev]
images:
  - name: shared
    repository: {shared}
    policy: {{semver: "^1.0"}}
  - name: own
    repository: {own}
    policy: {{semver: "^1.0"}}
forge:
  {forge}
"""


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def _requests(proxy: FaultProxy, image: str, what: str) -> int:
    """How many requests for ``image``'s ``what`` (``tags/list``, ``manifests/``) passed the
    proxy in front of the registry."""
    return sum(1 for _, path, _, _ in proxy.hits
               if re.search(rf"/v2/{re.escape(image)}/{what}", path))


class Fleet:
    def __init__(self, registry: LocalRegistry, pusher: Pusher, tmp: Path,
                 host: str | None = None) -> None:
        self.i = next(_n)
        self.registry, self.pusher, self.tmp = registry, pusher, tmp
        self.host = host or registry.host
        self.shared = f"fleet{self.i}/shared"
        for tag in ("1.0.0", "1.1.0", "2.0.0"):
            pusher.push(self.shared, tag)

    def own(self, name: str) -> str:
        image = f"fleet{self.i}/{name}"
        for tag in ("1.0.0", "1.0.1"):
            self.pusher.push(image, tag)
        return image

    def files(self, own: str, forge: str) -> dict[str, str]:
        host = self.host
        return {"overlays/dev/kustomization.yaml": KUSTOMIZATION.format(
                    shared=f"{host}/{self.shared}", own=f"{host}/{own}"),
                ".promoter.yaml": CONFIG.format(shared=f"{host}/{self.shared}",
                                                own=f"{host}/{own}", forge=forge)}

    def checkout(self, name: str, files: dict[str, str]) -> Path:
        root = self.tmp / name
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        _git("init", "-q", "-b", "main", str(root))
        _git("add", "-A", cwd=root)
        _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init", cwd=root)
        return root


Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*args: str) -> tuple[int, dict[str, Any]]:
        code = main([*args, "--output", "json"])
        out = capsys.readouterr()
        assert "ghp-fleet" not in out.out + out.err and "glpat-fleet" not in out.out + out.err
        return code, json.loads(out.out)
    return go


def _by_name(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in out["repositories"]}


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


def test_repo_twice_polls_both_and_reads_the_shared_image_once(
        registry: LocalRegistry, pusher: Pusher, tmp_path: Path, run: Run,
        proxy: FaultProxy) -> None:
    fleet = Fleet(registry, pusher, tmp_path, host=proxy.host)
    local = "type: local"
    a = fleet.checkout("a", fleet.files(fleet.own("own-a"), local))
    b = fleet.checkout("b", fleet.files(fleet.own("own-b"), local))
    code, out = run("poll", "--repo", str(a), "--repo", str(b), "--parallel", "2")
    assert code == 0, out
    runs = _by_name(out)
    assert set(runs) == {"a", "b"}
    for name, root in (("a", a), ("b", b)):
        assert runs[name]["exit_code"] == 0
        assert [p["branch"] for p in runs[name]["pull_requests"]] == ["promoter/dev/shared",
                                                                   "promoter/dev/own"]
        diff = _git("diff", "-U0", "main...promoter/dev/shared", cwd=root)
        assert [x for x in diff.splitlines() if x[:1] in "+-" and x[1:2] != x[:1]] == [
            '-    newTag: "1.0.0"   # shared by the fleet',
            '+    newTag: "1.1.0"   # shared by the fleet']
    # the image both repositories pin was listed, and its chosen tag looked up, once for two
    assert _requests(proxy, fleet.shared, "tags/list") == 1
    assert _requests(proxy, fleet.shared, "manifests/") == 1
    assert _requests(proxy, f"fleet{fleet.i}/own-a", "tags/list") == 1
    assert out["registry"]["shared"] >= 2


def test_one_broken_repository_stops_no_other(registry: LocalRegistry, pusher: Pusher,
                                              tmp_path: Path, run: Run) -> None:
    fleet = Fleet(registry, pusher, tmp_path)
    good = fleet.checkout("good", fleet.files(fleet.own("own-good"), "type: local"))
    broken_files = fleet.files(fleet.own("own-bad"), "type: local")
    broken_files[".promoter.yaml"] = broken_files[".promoter.yaml"].replace(
        "    paths: [overlays/dev]", "    pathz: [overlays/dev]")
    broken = fleet.checkout("broken", broken_files)
    (tmp_path / "fleet.yaml").write_text(
        "repositories:\n  - path: good\n  - path: broken\n    name: acme/broken\n"
        "  - path: missing\n")
    code, out = run("plan", "--fleet", str(tmp_path / "fleet.yaml"))
    assert code == 1
    runs = _by_name(out)
    assert runs["good"]["exit_code"] == 0
    assert [p["branch"] for p in runs["good"]["plan"]] == ["promoter/dev/shared",
                                                           "promoter/dev/own"]
    bad = runs["acme/broken"]
    assert bad["exit_code"] == 2
    assert (bad["errors"][0]["line"], bad["errors"][0]["key"]) == (3, "environments[0].pathz")
    assert runs["missing"]["exit_code"] == 2
    # the top-level errors name the repository each is about
    assert any(e["message"].startswith("acme/broken: ") for e in out["errors"])
    assert _git("branch", "--list", cwd=broken).split() == ["*", "main"]
    assert _git("branch", "--list", cwd=good).split() == ["*", "main"]  # plan writes nothing


def test_discovery_on_github_by_topic_clones_and_opens_prs(
        registry: LocalRegistry, pusher: Pusher, github: FakeGitHub, tmp_path: Path,
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = Fleet(registry, pusher, tmp_path)
    org = f"acme{fleet.i}"
    token = github.add_user(f"fleet-bot-{fleet.i}", token=f"ghp-fleet-{fleet.i}")
    monkeypatch.setenv("FORGE_TOKEN", token)
    start = len(github.recorded)
    made = {}
    for name, topics, archived in (("gitops-a", ("gitops",), False),
                                   ("gitops-b", ("gitops", "k8s"), False),
                                   ("app", (), False), ("old", ("gitops",), True)):
        full = f"{org}/{name}"
        forge = (f"type: github\n  url: {github.url}\n  repository: {full}\n"
                 "  token-env: FORGE_TOKEN")
        made[full] = github.add_repo(full, files=fleet.files(fleet.own(name), forge),
                                     topics=topics, archived=archived, org=True)
        github.set_permission(full, f"fleet-bot-{fleet.i}", "write")
    (tmp_path / "fleet.yaml").write_text(
        f"discover:\n  - forge: github\n    url: {github.url}\n    owner: {org}\n"
        "    topic: gitops\n    token-env: FORGE_TOKEN\n"
        f"  - forge: github\n    url: {github.url}\n    owner: nobody-{fleet.i}\n"
        "    token-env: FORGE_TOKEN\n")
    code, out = run("poll", "--fleet", str(tmp_path / "fleet.yaml"))
    assert "repositories" in out, out["errors"][0]["message"]
    runs = _by_name(out)
    assert set(runs) == {f"{org}/gitops-a", f"{org}/gitops-b",
                         f"discover github:nobody-{fleet.i}"}
    assert code == 1  # the owner that does not exist
    assert runs[f"discover github:nobody-{fleet.i}"]["exit_code"] == 2
    for name in ("gitops-a", "gitops-b"):
        r = runs[f"{org}/{name}"]
        assert r["exit_code"] == 0, r
        assert [(p["branch"], p["action"]) for p in r["pull_requests"]] == [
            ("promoter/dev/shared", "opened"), ("promoter/dev/own", "opened")]
        assert len(made[f"{org}/{name}"].pulls) == 2
    assert not made[f"{org}/app"].pulls and not made[f"{org}/old"].pulls
    assert not github.unknown, github.unknown
    if openapi.available():
        problems = openapi.validate_all(github.recorded[start:])
        assert not problems, "\n".join(problems[:10])


def test_discovery_on_gitlab_walks_subgroups(registry: LocalRegistry, pusher: Pusher,
                                             gitlab: FakeGitLab, tmp_path: Path, run: Run,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = Fleet(registry, pusher, tmp_path)
    group = f"platform{fleet.i}"
    token = gitlab.add_user(f"fleet-bot-{fleet.i}", token=f"glpat-fleet-{fleet.i}")
    monkeypatch.setenv("FORGE_TOKEN", token)
    for path, topics in ((f"{group}/gitops", ("gitops",)),
                         (f"{group}/team-x/gitops", ("gitops",)),
                         (f"{group}/team-x/service", ())):
        forge = (f"type: gitlab\n  url: {gitlab.url}\n  project: {path}\n"
                 "  token-env: FORGE_TOKEN")
        gitlab.add_project(path, files=fleet.files(fleet.own(path.replace("/", "-")), forge),
                           topics=topics)
        gitlab.set_access(path, f"fleet-bot-{fleet.i}", 30)
    (tmp_path / "fleet.yaml").write_text(
        f"discover:\n  - forge: gitlab\n    url: {gitlab.url}\n    owner: {group}\n"
        "    topic: gitops\n    token-env: FORGE_TOKEN\n")
    code, out = run("poll", "--fleet", str(tmp_path / "fleet.yaml"), "--dry-run")
    assert code == 0, out
    runs = _by_name(out)
    assert set(runs) == {f"{group}/gitops", f"{group}/team-x/gitops"}
    for r in runs.values():
        assert [p["branch"] for p in r["plan"]] == ["promoter/dev/shared", "promoter/dev/own"]
