"""``promoter rollback`` end to end on the fake GitHub and GitLab (git over HTTP, real registry):
the previous version comes back in a labelled pull request, ``promoter check`` lets that
downgrade through as a rollback, and ``promoter status`` shows it pending."""

from __future__ import annotations

import json
import subprocess

import pytest

from promoter.cli import main
from promoter.forge import StatusState
from tests.flows.test_check_e2e import OVERLAY, Repo, repo  # noqa: F401 - the fixture
from tests.servers.git_http import commit_to

pytestmark = pytest.mark.integration


def test_rollback_pr_passes_check_and_shows_in_status(
        repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    commit_to(repo.bare, "main", {"overlays/prod/kustomization.yaml":
                                  OVERLAY.format(image=repo.image, tag="1.1.0")},
              message="prod: web 1.1.0")
    checkout = repo.checkout()
    assert main(["rollback", "prod", "--image", "web", "--reason", "errors in checkout",
                 "--repo", str(checkout)]) == 0
    out = capsys.readouterr().out
    assert "prod: web 1.1.0 -> 1.0.0: promoter/rollback/prod/web: created opened #" in out
    forge = repo.forge()
    pr = forge.find(head="promoter/rollback/prod/web", base="main")
    assert pr is not None and pr.is_open
    assert "promoter/rollback" in pr.labels
    assert "**Reason:** errors in checkout" in pr.body
    assert 'newTag: "1.0.0"  # promoter' in commit_text(repo, pr.head_sha)

    assert main(["check", "--pr", str(pr.number), "--repo", str(checkout)]) == 0
    assert capsys.readouterr().out == (
        "rollback: the order and downgrade rules do not apply\nprod: web 1.1.0 -> 1.0.0\nok\n")
    [status] = [s for s in forge.statuses(pr.head_sha) if s.context == "promoter/verify"]
    assert status.state is StatusState.SUCCESS

    assert main(["status", "--repo", str(checkout), "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    prod = doc["images"][0]["environments"]["prod"]
    assert (prod["tag"], prod["pending"][0]["tag"], prod["pending"][0]["rollback"]) == (
        "1.1.0", "1.0.0", True)


def commit_text(r: Repo, sha: str) -> str:
    git_dir = ["--git-dir", str(r.bare)]
    return subprocess.run(["git", *git_dir, "show", f"{sha}:overlays/prod/kustomization.yaml"],
                          capture_output=True, text=True, check=True).stdout
