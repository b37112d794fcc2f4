"""The `local` forge (plain git, no pull requests) and the embedded demo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.demo.push import Pusher
from promoter.demo.run import write_repo
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def test_demo_leaves_a_repository_whose_branches_hold_one_line_changes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    repo = tmp_path / "gitops"
    # the poll's dev branches were merged (and deleted); the promotion's wait for staging
    branches = sorted(_git(repo, "branch", "--format=%(refname:short)").split())
    assert branches == ["main", "promoter/staging/api", "promoter/staging/web"]
    assert "branch promoter/dev/web: created (web -> 1.2.1)" in out  # ^1.0: no 2.0.0-rc.1
    assert "dev -> staging: web 1.0.0 -> 1.2.1 (minor) promote" in out
    assert "branch promoter/staging/api: created (api -> 1.1.0)" in out
    api = ["-  tag: '1.0.0'        # quoted on purpose: the quotes stay",
           "+  tag: '1.1.0'        # quoted on purpose: the quotes stay"]
    merged = _git(repo, "diff", "--unified=0", "main~2", "main", "--",
                  "charts/api/values-dev.yaml")
    assert [ln for ln in merged.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
            ] == api  # dev on main now runs what the poll proposed
    diff = _git(repo, "diff", "--unified=0", "main...promoter/staging/api", "--", ".")
    assert [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
            ] == api  # and staging's promotion moves exactly that line in its own file
    assert "charts/api/values-staging.yaml" in _git(repo, "diff", "--name-only",
                                                   "main...promoter/staging/api")
    # every process the demo started is gone: its registry port no longer answers
    port = out.split("registry: http://127.0.0.1:", 1)[1].split(" ", 1)[0]
    import httpx

    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2)
    # what it says to try next works in the repository it left, and says what does not
    steps = out.split("Try next:\n", 1)[1]
    assert f"cd {repo}" in steps and "exits 3 (retry later)" in steps
    tried = [ln.split("#")[0].split() for ln in steps.splitlines()
             if ln.strip().startswith("promoter ") and ">" not in ln]
    assert [t[1] for t in tried] == ["status", "config"]
    for words in tried:
        assert main([*words[1:], *(["--repo", str(repo)] if words[1] == "status"
                                   else [str(repo / ".promoter.yaml")])]) == 0, words
    assert main(["plan", "--repo", str(repo)]) == 3  # as it says
    capsys.readouterr()
    # the local forge's pending changes are promoter's branches, with the version each holds
    assert main(["status", "--repo", str(repo), "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    pending = {(i["name"], env): [(p["branch"], p["tag"], p["number"]) for p in c["pending"]]
               for i in doc["images"] for env, c in i["environments"].items() if c["pending"]}
    assert pending == {("web", "staging"): [("promoter/staging/web", "1.2.1", None)],
                       ("api", "staging"): [("promoter/staging/api", "1.1.0", None)]}
    assert main(["status", "--repo", str(repo)]) == 0
    assert "-> 1.2.1 (promoter/staging/web)" in capsys.readouterr().out


def test_local_poll_is_idempotent_and_plan_shows_the_diff(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalRegistry("anonymous") as reg:
        pusher = Pusher(reg.url)
        for name, tags in {"demo/web": ("1.0.0", "1.0.1"), "demo/api": ("1.0.0",)}.items():
            for tag in tags:
                pusher.push(name, tag)
        repo = tmp_path / "gitops"
        write_repo(repo, reg.host)
        assert main(["plan", "--repo", str(repo)]) == 0
        plan = capsys.readouterr().out
        assert plan.startswith("Promote web to 1.0.1 in dev  (promoter/dev/web -> main)\n"
                               "  web: 1.0.0 -> 1.0.1 (patch)\n")
        assert '+    newTag: "1.0.1"   # pinned by promoter' in plan
        assert _git(repo, "branch", "--list", "promoter/*") == ""
        assert main(["poll", "--repo", str(repo)]) == 0
        assert "dev: promoter/dev/web: created" in capsys.readouterr().out
        head = _git(repo, "rev-parse", "promoter/dev/web")
        assert main(["poll", "--repo", str(repo)]) == 0
        assert "dev: promoter/dev/web: unchanged" in capsys.readouterr().out
        assert _git(repo, "rev-parse", "promoter/dev/web") == head
        assert _git(repo, "status", "--porcelain") == ""  # the checkout itself is untouched
