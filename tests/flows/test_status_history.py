"""The Workspace methods status, check and rollback stand on (``history``, ``merge_base``,
``changed_files``) answer alike in the in-memory workspace and over real git, for random
histories with a side branch (hypothesis)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promoter.config import Identity
from promoter.gitrepo import GitWorkspace, MemoryWorkspace

PATHS = ("env/dev/k.yaml", "env/prod/k.yaml", "env/prod/extra/v.yaml", "README.md")
ME = Identity(name="T", email="t@example.com")

# a commit: (on the side branch?, {path: text or None (delete)})
changes = st.dictionaries(st.sampled_from(PATHS), st.sampled_from(["a\n", "b\n", None]),
                          min_size=1, max_size=3)
histories = st.lists(st.tuples(st.booleans(), changes), min_size=1, max_size=8)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _build(root: Path, steps: list[tuple[bool, dict[str, str | None]]]
           ) -> tuple[GitWorkspace, MemoryWorkspace]:
    mem = MemoryWorkspace({"README.md": "start\n"})
    mem.branches["side"] = mem.branches["main"]
    _git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("start\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial commit")
    _git(root, "branch", "side")
    for i, (side, files) in enumerate(steps):
        branch = "side" if side else "main"
        _git(root, "checkout", "-q", branch)
        for path, text in files.items():
            f = root / path
            if text is None:
                f.unlink(missing_ok=True)
            else:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text)
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", f"c{i}")
        parent = mem.branches[branch]
        sha = mem.commit(parent=parent, files=files, message=f"c{i}", author=ME)
        if sha == parent:  # nothing changed: git made an empty commit, so must we
            sha = mem._store(parent, dict(mem._get(parent).files), f"c{i}", ME)
        mem.branches[branch] = sha
    return GitWorkspace.open(root), mem


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=histories, paths=st.lists(st.sampled_from(("env/prod", "env/dev/k.yaml", "env")),
                                       min_size=1, max_size=2, unique=True))
def test_history_merge_base_and_changed_files_agree(
        steps: list[tuple[bool, dict[str, str | None]]], paths: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        real, mem = _build(Path(tmp), steps)
        with real:
            def subjects(ws: GitWorkspace | MemoryWorkspace, branch: str) -> list[str]:
                rev = ws.branch_head(branch)
                assert rev is not None
                return [c.subject for c in ws.history(rev, paths)]

            for branch in ("main", "side"):
                assert subjects(real, branch) == subjects(mem, branch)
            rm, rs = real.branch_head("main"), real.branch_head("side")
            mm, ms = mem.branch_head("main"), mem.branch_head("side")
            assert rm and rs and mm and ms
            real_base, mem_base = real.merge_base(rm, rs), mem.merge_base(mm, ms)
            assert real_base and mem_base
            assert real.commits(real_base, real_base) == ()
            assert [c.subject for c in real.history(real_base, ["README.md"], limit=1)] == \
                [c.subject for c in mem.history(mem_base, ["README.md"], limit=1)]
            assert real.changed_files(real_base, rs) == mem.changed_files(mem_base, ms)
            assert real.changed_files(rm, rs) == mem.changed_files(mm, ms)
