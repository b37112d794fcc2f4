"""git_http serves real bare repositories: clone and push with a token, refusal without one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.git_http import GitHttpServer, git

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("git-root"), tokens={"tok-123"}) as srv:
        yield srv


def test_clone_commit_push_with_token(server: GitHttpServer, tmp_path: Path) -> None:
    seed = server.create_repo("acme/clone", files={"a.yaml": "image: app:1\n"})
    work = tmp_path / "w"
    git("clone", "-q", server.clone_url("acme/clone", token="tok-123"), str(work))
    assert (work / "a.yaml").read_text() == "image: app:1\n"
    assert git("rev-parse", "HEAD", cwd=work) == seed
    (work / "a.yaml").write_text("image: app:2\n")
    git("commit", "-qam", "bump", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/promoter/dev", cwd=work)
    bare = server.root / "acme/clone.git"
    assert git("--git-dir", str(bare), "rev-parse", "refs/heads/promoter/dev") == \
        git("rev-parse", "HEAD", cwd=work)
    assert git("--git-dir", str(bare), "show", "refs/heads/promoter/dev:a.yaml") == "image: app:2"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_clone_refused_without_the_token(server: GitHttpServer, tmp_path: Path,
                                         token: str | None) -> None:
    server.create_repo(f"acme/refused-{token}")
    out = subprocess.run(
        ["git", "-c", "credential.helper=", "clone", "-q",
         server.clone_url(f"acme/refused-{token}", token=token), str(tmp_path / "w")],
        capture_output=True, text=True, env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "401" in out.stderr or "Authentication failed" in out.stderr or \
        "could not read Username" in out.stderr


def test_push_rejected_by_a_hook_is_reported(server: GitHttpServer, tmp_path: Path) -> None:
    server.create_repo("acme/hooked")
    hook = server.root / "acme/hooked.git/hooks/pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    work = tmp_path / "w"
    git("clone", "-q", server.clone_url("acme/hooked", token="tok-123"), str(work))
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=work)
    with pytest.raises(RuntimeError, match="pre-receive hook declined"):
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
