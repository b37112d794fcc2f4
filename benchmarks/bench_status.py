#!/usr/bin/env python3
"""``promoter status`` over a GitOps history against two same-run baselines.

A synthetic repository (``--images`` images in dev/staging/prod Kustomize overlays, one image
line moved per commit for ``--commits`` commits, each environment's file listing every image) is
built in a temporary directory; then, each the median of ``--rounds`` runs:

* ``status``: :func:`promoter.flows.status.status` (versions, ages from history, drift);
* ``floor``: the least the question needs with the same engine: one ``git log`` per
  environment and each distinct file text at each of its commits read and parsed once by
  ``find_sites`` (no matching, no history runs);
* ``naive``: the matrix of the first ``--naive-images`` images with
  :func:`promoter.plan.locate` called per image per commit without shared parsing or listing
  (what status did first), against ``status`` for the same images.

Printed: seconds of each and the ratios status/floor and naive/status.

    python benchmarks/bench_status.py [--images 50] [--commits 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from promoter.config import Config, load_config  # noqa: E402
from promoter.edit import find_sites  # noqa: E402
from promoter.flows.snapshots import image_paths  # noqa: E402
from promoter.flows.status import status  # noqa: E402
from promoter.gitrepo import GitWorkspace  # noqa: E402
from promoter.plan import locate  # noqa: E402

ENVS = ("dev", "staging", "prod")


def build(root: Path, images: int, commits: int) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "bench")
    git("config", "user.email", "bench@example.invalid")
    git("config", "commit.gpgsign", "false")
    (root / ".promoter.yaml").write_text(
        "environments:\n" + "".join(f"  - {{name: {e}, paths: [overlays/{e}]}}\n" for e in ENVS)
        + "images:\n" + "".join(f"  - {{name: app{i}, repository: reg.example/acme/app{i}}}\n"
                                for i in range(images)))
    versions = {e: [0] * images for e in ENVS}

    def write(env: str) -> None:
        path = root / "overlays" / env / "kustomization.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                        "images:\n" + "".join(f"  - name: reg.example/acme/app{i}\n"
                                              f"    newTag: 1.{v}.0\n"
                                              for i, v in enumerate(versions[env])))

    for env in ENVS:
        write(env)
    git("add", "-A")
    git("commit", "-q", "-m", "start")
    rnd = random.Random(1)
    for c in range(commits):
        env = ENVS[c % len(ENVS)]
        versions[env][rnd.randrange(images)] += 1
        write(env)
        git("commit", "-q", "-a", "-m", f"move {c}")


def run_status(cfg: Config, root: Path) -> float:
    start = time.perf_counter()
    with GitWorkspace.open(root) as ws:
        status(cfg, ws, None, now=datetime.now(UTC))
    return time.perf_counter() - start


def run_floor(cfg: Config, root: Path) -> float:
    start = time.perf_counter()
    with GitWorkspace.open(root) as ws:
        head = ws.branch_head("main") or ""
        for env in ENVS:
            paths = image_paths(cfg.images[0], env)
            for commit in ws.history(head, paths, limit=None):
                for path in ws.list_files(commit.sha, paths[0]):
                    text = ws.read(commit.sha, path)
                    if text is not None:
                        find_sites(text, path)
    return time.perf_counter() - start


def run_naive(cfg: Config, root: Path, count: int) -> float:
    start = time.perf_counter()
    with GitWorkspace.open(root) as ws:
        head = ws.branch_head("main") or ""
        for image in cfg.images[:count]:
            for env in ENVS:
                for commit in ws.history(head, image_paths(image, env), limit=None):
                    files = ws.list_files(commit.sha)
                    locate(image, env, files, lambda p, sha=commit.sha: ws.read(sha, p))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--naive-images", type=int, default=3,
                    help="images for the naive run (it is slow)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        root = Path(tmp)
        build(root, args.images, args.commits)
        cfg = load_config(root / ".promoter.yaml", root=root)
        run_status(cfg, root)  # warm-up
        s = statistics.median(run_status(cfg, root) for _ in range(args.rounds))
        f = statistics.median(run_floor(cfg, root) for _ in range(args.rounds))
        naive = run_naive(cfg, root, args.naive_images)
        few = statistics.median(_few(cfg, root, args.naive_images) for _ in range(args.rounds))
    print(f"{args.images} images x {len(ENVS)} environments, {args.commits} commits")
    print(f"status  {s:7.2f} s")
    print(f"floor   {f:7.2f} s   status/floor {s / f:5.2f}x")
    print(f"naive   {naive:7.2f} s   ({args.naive_images} images; status for them "
          f"{few:.2f} s: naive/status {naive / few:5.1f}x)")


def _few(cfg: Config, root: Path, count: int) -> float:
    start = time.perf_counter()
    with GitWorkspace.open(root) as ws:
        status(cfg, ws, None, now=datetime.now(UTC), images=[i.name for i in cfg.images[:count]])
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
