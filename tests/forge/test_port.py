"""The port itself: the FORGES registry, open_forge, the neutral types and the in-memory forge's
own test helpers (the shared behaviour is in test_contract.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from promoter.errors import ForgeError, InputError
from promoter.forge import (
    FORGES,
    GITLAB_EMOJI,
    Permission,
    PRState,
    Reaction,
    open_forge,
)
from promoter.forge.memory import MemoryForge


def test_forges_are_listed_in_one_place() -> None:
    assert list(FORGES) == ["github", "gitlab", "memory"]


def test_open_forge_rejects_an_unknown_kind() -> None:
    with pytest.raises(InputError, match=r"forge: unknown kind 'gitea' \(expected one of: "
                                         r"github, gitlab, memory\)"):
        open_forge("gitea", repo="a/b")


@pytest.mark.parametrize(("kind", "kwargs", "message"), [
    ("github", {"repo": "no-slash", "token": "t0ken"}, "is not owner/name"),
    ("github", {"repo": "a/b"}, "set a token, or an app id and a private key"),
    ("github", {"repo": "a/b", "app_id": 1}, "set a token, or an app id and a private key"),
    ("gitlab", {"repo": "a/b"}, "set a token"),
])
def test_missing_credentials_are_input_errors(kind: str, kwargs: dict[str, object],
                                              message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_forge(kind, **kwargs)  # type: ignore[arg-type]


def test_open_forge_memory() -> None:
    forge = open_forge("memory", repo="acme/gitops")
    assert (forge.kind, forge.repo, forge.me()) == ("memory", "acme/gitops", "promoter[bot]")


def test_permissions_are_ordered() -> None:
    assert Permission.NONE < Permission.READ < Permission.TRIAGE < Permission.WRITE \
        < Permission.MAINTAIN < Permission.ADMIN
    assert Permission.MAINTAIN >= Permission.WRITE


def test_every_reaction_has_a_gitlab_name() -> None:
    assert set(GITLAB_EMOJI) == set(Reaction)


def test_memory_fail_next_fails_once() -> None:
    forge = MemoryForge()
    forge.set_branch("main", "a" * 40)
    forge.set_branch("x", "b" * 40)
    forge.fail_next("create", "503 unavailable")
    with pytest.raises(ForgeError, match="memory: owner/repo: create: 503 unavailable"):
        forge.create(head="x", base="main", title="t", body="")
    assert forge.create(head="x", base="main", title="t", body="").number == 1


def test_memory_resolves_branches_through_a_real_repository(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    run("init", "-q", "-b", "main")
    run("commit", "-q", "--allow-empty", "-m", "init")
    run("checkout", "-q", "-b", "promoter/dev")
    run("commit", "-q", "--allow-empty", "-m", "bump")

    def resolve(branch: str) -> str | None:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                             cwd=tmp_path, capture_output=True, text=True)
        return out.stdout.strip() or None

    forge = MemoryForge("acme/gitops", resolve=resolve)
    pr = forge.create(head="promoter/dev", base="main", title="t", body="")
    assert pr.head_sha == run("rev-parse", "promoter/dev")
    run("commit", "-q", "--allow-empty", "-m", "human commit")
    assert forge.get(pr.number).head_sha == run("rev-parse", "HEAD")
    forge.merge(pr.number)
    assert forge.get(pr.number).state is PRState.MERGED
