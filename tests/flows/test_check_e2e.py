"""``promoter check --pr N`` end to end: a real registry, git over HTTP and the fake GitHub and
GitLab (real PyGithub / python-gitlab). A hand-made pull request that skips staging fails and
gets a failing ``promoter/verify``; a correct promotion passes and gets a green one."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.demo.push import Pusher
from promoter.forge import Forge, StatusState, open_forge
from promoter.gitrepo import GitWorkspace, HttpAuth
from tests.forge import openapi
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import commit_to
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: {image}
    newTag: "{tag}"  # promoter
"""


def _config(kind: str, image: str, url: str, repo: str) -> str:
    key = "repository" if kind == "github" else "project"
    return f"""\
environments:
  - {{name: dev, paths: [overlays/dev], track: true}}
  - {{name: staging, paths: [overlays/staging]}}
  - {{name: prod, paths: [overlays/prod]}}
images:
  - {{name: web, repository: {image}}}
forge: {{type: {kind}, url: "{url}", {key}: {repo}, token-env: FORGE_TOKEN}}
"""


@dataclass
class Repo:
    kind: str
    server: FakeGitHub | FakeGitLab
    name: str
    bare: Path
    token: str
    image: str
    tmp: Path

    def forge(self) -> Forge:
        return open_forge(self.kind, repo=self.name, url=self.server.url, token=self.token,
                          retries=0, throttle=False)

    def pull_request(self, branch: str, env: str, tag: str) -> tuple[int, str]:
        sha = commit_to(self.bare, branch, {f"overlays/{env}/kustomization.yaml":
                                            OVERLAY.format(image=self.image, tag=tag)},
                        base="main", message=f"{env}: web {tag}")
        pr = self.forge().create(head=branch, base="main", title=f"{env}: web {tag}", body="")
        return pr.number, sha

    def checkout(self) -> Path:
        """What CI has: a clone with the working tree (the config is read from it)."""
        dest = self.tmp / f"ci-{next(_n)}"
        user = "oauth2" if self.kind == "gitlab" else "x-access-token"
        GitWorkspace.clone(f"{self.server.url}/{self.name}.git", dest,
                           auth=HttpAuth(username=user, token=self.token)).close()
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", "main"], check=True)
        return dest


@pytest.fixture(params=["github", "gitlab"])
def repo(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    kind = request.param
    server: FakeGitHub | FakeGitLab = request.getfixturevalue(kind)
    i = next(_n)
    image = f"{registry.host}/check/web{i}"
    name = f"acme/check-{kind}-{i}"
    files = {f"overlays/{env}/kustomization.yaml": OVERLAY.format(image=image, tag=tag)
             for env, tag in (("dev", "1.2.0"), ("staging", "1.1.0"), ("prod", "1.0.0"))}
    files[".promoter.yaml"] = _config(kind, image, server.url, name)
    if isinstance(server, FakeGitHub):
        bare = server.add_repo(name, files=files).path
        token = server.add_user("promoter-bot", token=f"ghp-check-token-{i}")
        server.set_permission(name, "promoter-bot", "write")
    else:
        bare = server.add_project(name, files=files).bare
        token = server.add_user("promoter-bot", token=f"glpat-check-token-{i}")
        server.set_access(name, "promoter-bot", 30)
    for tag in ("1.0.0", "1.1.0", "1.2.0"):
        pusher.push(f"check/web{i}", tag)
    monkeypatch.setenv("FORGE_TOKEN", token)
    start = len(server.recorded)
    yield Repo(kind, server, name, bare, token, image, tmp_path)
    openapi.assert_github_valid(server, start)


def _verify(repo: Repo, sha: str) -> tuple[StatusState, str]:
    [status] = [s for s in repo.forge().statuses(sha) if s.context == "promoter/verify"]
    return status.state, status.description


def test_pr_that_skips_staging_fails_and_a_correct_one_passes(
        repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    checkout = repo.checkout()
    bad, bad_sha = repo.pull_request("hotfix-prod", "prod", "1.2.0")
    good, good_sha = repo.pull_request("promote-prod", "prod", "1.1.0")
    missing, missing_sha = repo.pull_request("promote-dev", "dev", "9.9.9")

    assert main(["check", "--pr", str(bad), "--repo", str(checkout)]) == 1
    out = capsys.readouterr().out
    assert "order: web: prod gets 1.2.0 but staging runs 1.1.0" in out
    assert _verify(repo, bad_sha) == (
        StatusState.FAILURE,
        "web: prod gets 1.2.0 but staging runs 1.1.0: a version enters prod only from staging")

    if isinstance(repo.server, FakeGitHub):  # the summary is a check run's output there
        [run] = [r for r in repo.server.repos[repo.name].check_runs.values()
                 if r["head_sha"] == bad_sha and r["name"] == "promoter/verify"]
        assert run["conclusion"] == "failure"
        assert "| order | web: prod gets 1.2.0 but staging runs 1.1.0" in str(run["output"])

    assert main(["check", "--pr", str(good), "--repo", str(checkout), "--output",
                 "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(":white_check_mark: **promoter check passed**")
    assert "| `web` | prod | 1.0.0 | **1.1.0** |" in out
    assert _verify(repo, good_sha) == (StatusState.SUCCESS, "1 image move(s) verified")

    assert main(["check", "--pr", str(missing), "--repo", str(checkout)]) == 1
    assert f"exists: web: {repo.image}:9.9.9 (dev) is not in the registry" in \
        capsys.readouterr().out
    assert _verify(repo, missing_sha)[0] is StatusState.FAILURE
