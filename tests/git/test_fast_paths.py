"""GitWorkspace answers some questions in-process (a bot branch a few plain commits above its
base) and moves many local branches in one ``update-ref --stdin``. Each answer must be what
git itself gives, on every shape of history, including the ones that fall back to git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from promoter.config import Identity
from promoter.errors import GitError
from promoter.gitrepo import GitWorkspace, LeaseLost, RefUpdate
from promoter.gitrepo.real import _LINE_STEPS
from tests.servers.git_http import init_bare

BOT = Identity(name="promoter", email="promoter@noreply.invalid")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def ws(tmp_path: Path) -> GitWorkspace:
    """A local-mode workspace (no remote): a bare repository with ``main``."""
    init_bare(tmp_path / "repo.git", files={"a.txt": "0\n"})
    return GitWorkspace(tmp_path / "repo.git", remote=None)


def chain(ws: GitWorkspace, parent: str, n: int, message: str = "step") -> list[str]:
    out = []
    for i in range(n):
        parent = ws.commit(parent=parent, files={"a.txt": f"{message} {i} {parent}\n"},
                           message=f"{message} {i}", author=BOT)
        out.append(parent)
    return out


def merge(ws: GitWorkspace, first: str, second: str) -> str:
    tree = git(ws.root, "rev-parse", f"{first}^{{tree}}")
    return git(ws.root, "commit-tree", tree, "-p", first, "-p", second, "-m", "merge")


def agree(ws: GitWorkspace, base: str, head: str) -> None:
    """In-process answers (or their fallback) equal git's own."""
    assert ws.commits(base, head) == ws._log(f"{base}..{head}", "--")
    assert ws.is_ancestor(base, head) == ws._ok("merge-base", "--is-ancestor", base, head)


def test_a_plain_line_above_the_base(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    line = chain(ws, main, 3)
    agree(ws, main, line[-1])
    assert [c.sha for c in ws.commits(main, line[-1])] == line[::-1]
    assert ws.commits(line[-1], line[-1]) == ()
    agree(ws, line[-1], line[-1])
    agree(ws, "main", line[-1])  # a branch name as base


def test_shapes_that_fall_back_to_git(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    left, right = chain(ws, main, 2, "left"), chain(ws, main, 2, "right")
    agree(ws, left[-1], right[-1])  # diverged: not an ancestor
    agree(ws, right[-1], main)  # the other way round
    merged = merge(ws, left[-1], right[-1])
    above = chain(ws, merged, 2)
    agree(ws, main, above[-1])  # a merge on the way
    agree(ws, right[0], above[-1])
    far = chain(ws, main, _LINE_STEPS + 3)
    agree(ws, main, far[-1])  # further than the in-process walk goes
    assert len(ws.commits(main, far[-1])) == _LINE_STEPS + 3


def test_subject_is_the_first_paragraph_on_one_line(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    sha = ws.commit(parent=main, files={"a.txt": "x\n"}, author=BOT,
                    message="promoter: dev\napi 1.2.3\n\nbody line\n\nmore")
    agree(ws, main, sha)
    assert ws.commits(main, sha)[0].subject == "promoter: dev api 1.2.3"


def test_local_branches_move_together_or_each_with_its_own_answer(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    a, b, c = (chain(ws, main, 1, name)[0] for name in "abc")
    assert ws.push_all([RefUpdate(branch="p/a", sha=a, expect=None),
                        RefUpdate(branch="p/b", sha=b, expect=None)]) == (None, None)
    assert (ws.branch_head("p/a"), ws.branch_head("p/b")) == (a, b)

    # one lost lease: the others still move, the lost one says so
    results = ws.push_all([RefUpdate(branch="p/a", sha=c, expect=a),
                           RefUpdate(branch="p/b", sha=c, expect=main),  # it is at b
                           RefUpdate(branch="p/c", sha=c, expect=None)])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], LeaseLost)
    assert (ws.branch_head("p/a"), ws.branch_head("p/b"), ws.branch_head("p/c")) == (c, b, c)

    # deletes go in the same transaction
    assert ws.push_all([RefUpdate(branch="p/a", sha=None, expect=c),
                        RefUpdate(branch="p/c", sha=None, expect=c)]) == (None, None)
    assert ws.branch_head("p/a") is None and ws.branch_head("p/c") is None


def test_the_checked_out_branch_is_never_moved(tmp_path: Path) -> None:
    repo = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a.txt").write_text("0\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    ws = GitWorkspace(repo, remote=None)
    main = ws.branch_head("main")
    assert main
    new = chain(ws, main, 1)[0]
    results = ws.push_all([RefUpdate(branch="main", sha=new, expect=main),
                           RefUpdate(branch="p/x", sha=new, expect=None)])
    assert isinstance(results[0], GitError) and "checked out" in str(results[0])
    assert results[1] is None
    assert ws.branch_head("main") == main and ws.branch_head("p/x") == new


def test_objects_are_written_as_git_writes_them_and_only_once(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    files = {"env/dev/values.yaml": "image:\n  tag: '1.2.3'\n", "a.txt": "1\n"}
    first = ws.commit(parent=main, files=files, message="m", author=BOT)
    tree = git(ws.root, "rev-parse", f"{first}^{{tree}}")
    obj = ws.root / "objects" / tree[:2] / tree[2:]
    stamp = obj.stat().st_mtime_ns
    blob = git(ws.root, "cat-file", "-p", f"{first}:env/dev/values.yaml")
    assert blob == "image:\n  tag: '1.2.3'"
    second = ws.commit(parent=main, files=files, message="m", author=BOT)
    assert git(ws.root, "rev-parse", f"{second}^{{tree}}") == tree
    assert obj.stat().st_mtime_ns == stamp  # not written again
    assert obj.stat().st_mode & 0o777 == 0o444
    git(ws.root, "fsck", "--strict", "--no-dangling")


def test_branch_refs_are_read_again_after_fetch_and_after_our_own_updates(
        ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main and ws.branch_head("p/x") is None
    sha = chain(ws, main, 1)[0]
    git(ws.root, "update-ref", "refs/heads/p/x", sha)  # another writer
    ws.fetch()  # local mode: nothing to fetch, but the refs are read again
    assert ws.branch_head("p/x") == sha
    newer = chain(ws, sha, 1)[0]
    assert ws.push_all([RefUpdate(branch="p/x", sha=newer, expect=sha)]) == (None,)
    assert ws.branch_head("p/x") == newer == ws.resolve("refs/heads/p/x")
    assert ws.resolve("refs/heads/no-such") is None


def test_a_commit_whose_tree_the_repository_holds_writes_only_the_commit(
        ws: GitWorkspace) -> None:
    """The steady state of a poll in a fresh clone: the bot branch already holds exactly these
    files (packed, as a clone has them). Recommitting them writes the commit object and none of
    the blobs and trees below it."""
    main = ws.branch_head("main")
    assert main
    files = {"env/dev/values.yaml": "image:\n  tag: '1.2.3'\n"}
    head = ws.commit(parent=main, files=files, message="m", author=BOT)
    assert ws.push_all([RefUpdate(branch="p/x", sha=head, expect=None)]) == (None,)
    git(ws.root, "repack", "-adq")
    git(ws.root, "prune-packed")

    def loose() -> list[Path]:
        return [p for p in (ws.root / "objects").glob("??/*") if p.is_file()]

    fresh = GitWorkspace(ws.root, remote=None)
    assert loose() == []
    assert fresh.commits(main, head)  # what publishing asks first: reads the head commit
    again = fresh.commit(parent=main, files=files, message="m", author=BOT)
    assert fresh.same_files(again, head)
    assert [p.parent.name + p.name for p in loose()] == [again]
    git(ws.root, "fsck", "--strict", "--no-dangling")


def test_a_revision_expression_on_a_branch_ref_still_goes_to_git(ws: GitWorkspace) -> None:
    main = ws.branch_head("main")
    assert main
    first, second = chain(ws, main, 2)
    assert ws.push_all([RefUpdate(branch="p/y", sha=second, expect=None)]) == (None,)
    assert ws.resolve("refs/heads/p/y~1") == first
    assert ws.resolve("refs/heads/p/y^1") == first
    assert ws.resolve("refs/heads/p/y") == second
