#!/usr/bin/env python3
"""promoter's git edge against the way a script would do it, same repository, same run.

A bare "remote" holds a GitOps tree of ``--images`` files (``overlays/<env>/<image>.yaml``).
For every image one branch ``promoter/dev/<image>`` gets one commit changing its file, pushed
to the remote:

* ``worktree`` (the baseline): a checkout; per branch ``git checkout -B``, write the file,
  ``git add``, ``git commit``, ``git push``: what a shell-script bot does;
* ``promoter``: :func:`promoter.gitrepo.publish_branch` per branch: a commit built in a
  temporary index (no checkout), pushed with a lease;
* ``promoter again``: the same call a second time, which must push nothing (idempotence);
* ``promoter batch``: :func:`promoter.gitrepo.publish_branches` over all branches at once:
  the same decisions, all pushes in one ``git push`` (one connection, one pack).

Printed: wall time and milliseconds per branch of each, and promoter's time as a ratio of the
baseline's (below 1 is faster). Sides alternate which runs first over ``--rounds`` (median).

    python benchmarks/bench_git.py [--images 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promoter.config import Identity  # noqa: E402
from promoter.gitrepo import (  # noqa: E402
    BranchChange,
    GitWorkspace,
    Outcome,
    publish_branch,
    publish_branches,
)

BOT = Identity(name="promoter", email="promoter@noreply.invalid")
ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
       "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                         text=True)
    return out.stdout.strip()


def make_remote(root: Path, images: int) -> Path:
    seed = root / "seed"
    git("init", "-q", "--initial-branch=main", str(seed))
    for env in ("dev", "staging", "prod"):
        (seed / "overlays" / env).mkdir(parents=True)
        for i in range(images):
            (seed / "overlays" / env / f"app{i}.yaml").write_text(
                f"# app{i} in {env}\nimage:\n  repository: ghcr.io/acme/app{i}\n  tag: '1.0.0'\n")
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    bare = root / "remote.git"
    git("clone", "-q", "--bare", str(seed), str(bare))
    return bare


def worktree(bare: Path, work: Path, images: int) -> float:
    git("clone", "-q", str(bare), str(work))
    start = time.perf_counter()
    for i in range(images):
        git("checkout", "-q", "-B", f"promoter/dev/app{i}", "origin/main", cwd=work)
        path = work / "overlays" / "dev" / f"app{i}.yaml"
        path.write_text(path.read_text().replace("'1.0.0'", "'1.1.0'"))
        git("add", str(path), cwd=work)
        git("commit", "-q", "-m", f"Promote app{i} to 1.1.0 in dev", cwd=work)
        git("push", "-q", "origin", f"promoter/dev/app{i}", cwd=work)
    return time.perf_counter() - start


def _texts(ws: GitWorkspace, images: int) -> dict[int, str]:
    main = ws.branch_head("main")
    assert main is not None
    return {i: ws.read(main, f"overlays/dev/app{i}.yaml") or "" for i in range(images)}


def batch(bare: Path, work: Path, images: int) -> float:
    ws = GitWorkspace.clone(str(bare), work)
    texts = _texts(ws, images)
    start = time.perf_counter()
    results = publish_branches(ws, [BranchChange(
        branch=f"promoter/dev/app{i}", base="main",
        files={f"overlays/dev/app{i}.yaml": texts[i].replace("'1.0.0'", "'1.1.0'")},
        message=f"Promote app{i} to 1.1.0 in dev", author=BOT) for i in range(images)])
    elapsed = time.perf_counter() - start
    assert all(r.outcome is Outcome.CREATED for r in results), results
    ws.close()
    return elapsed


def promoter(bare: Path, work: Path, images: int) -> tuple[float, float]:
    ws = GitWorkspace.clone(str(bare), work)
    texts = _texts(ws, images)
    times = []
    for expected in (Outcome.CREATED, Outcome.UNCHANGED):
        start = time.perf_counter()
        for i in range(images):
            result = publish_branch(
                ws, branch=f"promoter/dev/app{i}", base="main",
                files={f"overlays/dev/app{i}.yaml": texts[i].replace("'1.0.0'", "'1.1.0'")},
                message=f"Promote app{i} to 1.1.0 in dev", author=BOT)
            assert result.outcome is expected, result
        times.append(time.perf_counter() - start)
    ws.close()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base_times: list[float] = []
    ours: list[float] = []
    again: list[float] = []
    batched: list[float] = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="promoter-bench-git-") as tmp:
            root = Path(tmp)
            sides = ["worktree", "promoter", "batch"]
            for side in sides[r % 3:] + sides[:r % 3]:
                bare = make_remote(root / side, args.images)
                work = root / side / "work"
                if side == "worktree":
                    base_times.append(worktree(bare, work, args.images))
                elif side == "batch":
                    batched.append(batch(bare, work, args.images))
                else:
                    first, second = promoter(bare, work, args.images)
                    ours.append(first)
                    again.append(second)
    n = args.images
    b, p, a, t = (statistics.median(x) for x in (base_times, ours, again, batched))
    print(f"branches: {n} (median of {args.rounds} rounds)")
    print(f"worktree (baseline): {b:7.2f} s  {1000 * b / n:6.1f} ms/branch  ratio 1.00")
    print(f"promoter:            {p:7.2f} s  {1000 * p / n:6.1f} ms/branch  ratio {p / b:.2f}")
    print(f"promoter again:      {a:7.2f} s  {1000 * a / n:6.1f} ms/branch  ratio {a / b:.2f}"
          "  (nothing pushed)")
    print(f"promoter batch:      {t:7.2f} s  {1000 * t / n:6.1f} ms/branch  ratio {t / b:.2f}"
          "  (one push)")


if __name__ == "__main__":
    main()
