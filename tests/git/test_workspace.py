"""The Workspace contract, run against the real git implementation and the in-memory one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promoter.config import Identity
from promoter.errors import GitError, InputError
from promoter.gitrepo import (
    BranchChange,
    GitWorkspace,
    MemoryWorkspace,
    Outcome,
    Published,
    Workspace,
    foreign_commits,
    publish_branch,
    publish_branches,
)
from tests.servers.git_http import commit_to, init_bare

BOT = Identity(name="promoter", email="promoter@noreply.invalid")
HUMAN = Identity(name="Ann", email="ann@example.com")
FILES = {"README.md": "# gitops\n", "env/dev/kustomization.yaml": "images:\n- name: api\n",
         "env/prod/values.yaml": "image:\n  tag: '1.0'\n"}

Factory = Callable[[Path], tuple[Workspace, Callable[[str, dict[str, str]], str]]]


def _git_ws(tmp: Path) -> tuple[Workspace, Callable[[str, dict[str, str]], str]]:
    bare = tmp / "remote.git"
    init_bare(bare, files=FILES)
    ws = GitWorkspace.clone(str(bare), tmp / "clone")

    def human_push(branch: str, files: dict[str, str]) -> str:
        return commit_to(bare, branch, files, message="hand edit")

    return ws, human_push


def _memory_ws(tmp: Path) -> tuple[Workspace, Callable[[str, dict[str, str]], str]]:
    ws = MemoryWorkspace(FILES)

    def human_push(branch: str, files: dict[str, str]) -> str:
        sha = ws.commit(parent=ws.branches[branch], files=files, message="hand edit",
                        author=HUMAN)
        ws.branches[branch] = sha
        return sha

    return ws, human_push


@pytest.fixture(params=[_git_ws, _memory_ws], ids=["git", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path
         ) -> tuple[Workspace, Callable[[str, dict[str, str]], str]]:
    factory: Factory = request.param
    return factory(tmp_path)


def test_read_and_list(make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, _ = make
    main = ws.branch_head("main")
    assert main is not None and ws.resolve(main) == main
    assert ws.read(main, "env/prod/values.yaml") == "image:\n  tag: '1.0'\n"
    assert ws.read(main, "env/prod/missing.yaml") is None
    assert ws.list_files(main) == ("README.md", "env/dev/kustomization.yaml",
                                   "env/prod/values.yaml")
    assert ws.list_files(main, "env/dev") == ("env/dev/kustomization.yaml",)
    assert ws.branch_head("promoter/dev/api") is None
    for nothing in ("0" * 40, "1" * 40, "no-such-branch", "-x", ""):
        assert ws.resolve(nothing) is None
    with pytest.raises(InputError, match="^no-such-branch: not a commit$"):
        ws.read("no-such-branch", "README.md")
    with pytest.raises(InputError, match="is a directory"):
        ws.read(main, "env/dev")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", ".git/config", "a\\b", ""])
def test_paths_outside_the_repository_are_refused(
        make: tuple[Workspace, Callable[..., str]], path: str) -> None:
    ws, _ = make
    main = ws.branch_head("main")
    assert main
    with pytest.raises(InputError, match="is not a path inside the repository"):
        ws.read(main, path)
    with pytest.raises(InputError, match="is not a path inside the repository"):
        ws.commit(parent=main, files={path: "x"}, message="m", author=BOT)


def test_commit_push_and_lease(make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, _ = make
    main = ws.branch_head("main")
    assert main
    sha = ws.commit(parent=main, files={"env/prod/values.yaml": "image:\n  tag: '1.1'\n",
                                        "README.md": None, "new/file.yaml": "a: 1\n"},
                    message="Promote api to 1.1 in prod", author=BOT)
    assert sha != main
    assert ws.branch_head("promoter/prod/api") is None  # commit moves no ref
    ws.push("promoter/prod/api", sha, expect=None)
    assert ws.branch_head("promoter/prod/api") == sha
    assert ws.read(sha, "env/prod/values.yaml") == "image:\n  tag: '1.1'\n"
    assert ws.read(sha, "README.md") is None
    assert ws.read(sha, "new/file.yaml") == "a: 1\n"
    assert ws.commits(main, sha)[0].subject == "Promote api to 1.1 in prod"
    assert ws.commits(main, sha)[0].author == BOT
    assert ws.is_ancestor(main, sha) and not ws.is_ancestor(sha, main)
    # a second push of a new branch with the same name: the lease (must not exist) is lost
    lost = r"^push of branch promoter/prod/api rejected: it moved since promoter looked "
    with pytest.raises(GitError, match=lost + r"\(expected no branch; stale info\)$"):
        ws.push("promoter/prod/api", main, expect=None)
    with pytest.raises(GitError, match="rejected"):
        ws.push("promoter/prod/api", main, expect=main)
    assert ws.branch_head("promoter/prod/api") == sha
    # with the right lease it moves (recreate from a new base)
    ws.push("promoter/prod/api", main, expect=sha)
    assert ws.branch_head("promoter/prod/api") == main
    with pytest.raises(GitError, match="rejected"):
        ws.delete_branch("promoter/prod/api", expect=sha)
    ws.delete_branch("promoter/prod/api", expect=main)
    assert ws.branch_head("promoter/prod/api") is None


def test_commit_without_change_returns_the_parent(
        make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, _ = make
    main = ws.branch_head("main")
    assert main
    same = ws.commit(parent=main, files={"README.md": "# gitops\n", "gone.yaml": None},
                     message="nothing", author=BOT)
    assert same == main


def test_sign_off(make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, _ = make
    main = ws.branch_head("main")
    assert main
    sha = ws.commit(parent=main, files={"README.md": "x\n"}, message="Bump\n\nBody text.\n",
                    author=BOT, sign_off=True)
    if isinstance(ws, MemoryWorkspace):
        message = ws.message(sha)
    else:
        assert isinstance(ws, GitWorkspace)
        message = ws._git("log", "-1", "--format=%B", sha)
    assert message.rstrip("\n") == (
        "Bump\n\nBody text.\n\nSigned-off-by: promoter <promoter@noreply.invalid>")


def test_foreign_commits_detect_a_human_push(
        make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, human_push = make
    main = ws.branch_head("main")
    assert main
    ours = ws.commit(parent=main, files={"README.md": "bot\n"}, message="bot", author=BOT)
    ws.push("promoter/dev/api", ours, expect=None)
    assert foreign_commits(ws, base=main, head=ours, bot=BOT) == ()
    theirs = human_push("promoter/dev/api", {"README.md": "human\n"})
    ws.fetch()
    assert ws.branch_head("promoter/dev/api") == theirs
    found = foreign_commits(ws, base=main, head=theirs, bot=BOT)
    assert [c.sha for c in found] == [theirs]
    assert found[0].subject == "hand edit"
    # the stale lease protects the human commit
    with pytest.raises(GitError, match="rejected"):
        ws.push("promoter/dev/api", ours, expect=ours)
    assert ws.read(theirs, "README.md") == "human\n"


def test_publish_branch_lifecycle(make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, human_push = make

    def publish(tag: str) -> Published:
        return publish_branch(ws, branch="promoter/prod/api", base="main",
                              files={"env/prod/values.yaml": f"image:\n  tag: '{tag}'\n"},
                              message=f"Promote api to {tag} in prod", author=BOT)

    created = publish("1.1")
    assert created.outcome is Outcome.CREATED and created.sha is not None
    assert ws.branch_head("promoter/prod/api") == created.sha
    assert created.base == ws.branch_head("main")

    again = publish("1.1")  # idempotent: nothing pushed
    assert (again.outcome, again.sha) == (Outcome.UNCHANGED, created.sha)

    newer = publish("1.2")  # superseded: same branch, one commit on the base
    assert newer.outcome is Outcome.UPDATED and newer.sha != created.sha
    assert ws.commits(newer.base, newer.sha or "")[0].subject == "Promote api to 1.2 in prod"
    assert len(ws.commits(newer.base, newer.sha or "")) == 1

    moved = human_push("main", {"README.md": "# moved\n"})  # someone merged something else
    ws.fetch()
    rebuilt = publish("1.2")
    assert (rebuilt.outcome, rebuilt.base) == (Outcome.RECREATED, moved)
    assert rebuilt.sha and ws.is_ancestor(moved, rebuilt.sha)
    assert ws.read(rebuilt.sha, "README.md") == "# moved\n"

    # the base got the change by hand: the branch is no longer needed
    human_push("main", {"env/prod/values.yaml": "image:\n  tag: '1.2'\n"})
    ws.fetch()
    assert publish("1.2").outcome is Outcome.NOT_NEEDED


def test_publish_branch_leaves_a_human_commit_alone(
        make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, human_push = make
    first = publish_branch(ws, branch="promoter/dev/api", base="main",
                           files={"README.md": "bot\n"}, message="bot", author=BOT)
    theirs = human_push("promoter/dev/api", {"README.md": "fixed by hand\n"})
    ws.fetch()
    result = publish_branch(ws, branch="promoter/dev/api", base="main",
                            files={"README.md": "bot again\n"}, message="bot", author=BOT)
    assert result.outcome is Outcome.HUMAN and result.sha == theirs != first.sha
    assert [c.sha for c in result.foreign] == [theirs]
    assert ws.branch_head("promoter/dev/api") == theirs


def test_publish_branches_reports_each_and_stops_for_none(
        make: tuple[Workspace, Callable[..., str]]) -> None:
    ws, human_push = make
    taken = publish_branch(ws, branch="promoter/dev/taken", base="main",
                           files={"README.md": "bot\n"}, message="bot", author=BOT)
    human_push("promoter/dev/taken", {"README.md": "mine\n"})
    ws.fetch()

    def change(branch: str, files: dict[str, str | None], base: str = "main") -> BranchChange:
        return BranchChange(branch=branch, base=base, files=files, message=f"set {branch}",
                            author=BOT)

    results = publish_branches(ws, [
        change("promoter/dev/a", {"env/dev/a.yaml": "a: 1\n"}),
        change("promoter/dev/taken", {"README.md": "bot 2\n"}),
        change("promoter/dev/same", {"README.md": "# gitops\n"}),
        change("promoter/dev/orphan", {"x": "1\n"}, base="no-such-base"),
        change("bad..name", {"x": "1\n"}),
        change("promoter/dev/b", {"env/dev/b.yaml": "b: 1\n"}),
    ])
    assert [(r.branch, r.outcome) for r in results] == [
        ("promoter/dev/a", Outcome.CREATED), ("promoter/dev/taken", Outcome.HUMAN),
        ("promoter/dev/same", Outcome.NOT_NEEDED), ("promoter/dev/orphan", Outcome.FAILED),
        ("bad..name", Outcome.FAILED), ("promoter/dev/b", Outcome.CREATED)]
    assert results[3].error == "base branch no-such-base does not exist"
    assert results[4].error == "'bad..name' is not a valid branch name"
    assert ws.branch_head("promoter/dev/a") == results[0].sha
    assert ws.branch_head("promoter/dev/b") == results[5].sha
    assert ws.branch_head("promoter/dev/taken") != taken.sha
    again = publish_branches(ws, [change("promoter/dev/a", {"env/dev/a.yaml": "a: 1\n"})])
    assert [r.outcome for r in again] == [Outcome.UNCHANGED]
