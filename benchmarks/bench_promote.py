#!/usr/bin/env python3
"""``promoter promote --dry-run`` over a GitOps history against same-run baselines.

The repository of ``bench_status.py`` (``--images`` images in dev/staging/prod Kustomize
overlays, one image line moved per commit for ``--commits`` commits) is built in a temporary
directory; then, each the median of ``--rounds`` runs:

* ``promote``: :func:`promoter.flows.promote.promote` with ``dry_run`` and no forge, every step:
  locate, compare, and for each image that moves its arrival on the source branch (history
  walk, first-parent landing) and gates;
* ``floor``: ``bench_status``'s floor: one ``git log`` per environment and each file version
  parsed once by ``find_sites`` (the least any history question needs);
* ``arrivals``: for the first ``--few`` images, the arrival walk on the bare workspace with
  and without one shared parse cache (each image parsing each file version again).

First figures (50 images, 200 commits, shared 2-core machine): promote 2.9 s against a 4.1 s
floor (it walks back only to each version's arrival); before the run remembered reads, parents
and histories and bisected the first-parent line it took 35 s.

    python benchmarks/bench_promote.py [--images 50] [--commits 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_status import build, run_floor  # noqa: E402

from promoter.config import Config, load_config  # noqa: E402
from promoter.flows.promote import Decision, arrival, promote  # noqa: E402
from promoter.flows.snapshots import Snapshots  # noqa: E402
from promoter.gitrepo import GitWorkspace  # noqa: E402
from promoter.plan import cached_finder  # noqa: E402


def run_promote(cfg: Config, root: Path, images: list[str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    with GitWorkspace.open(root) as ws:
        report = promote(cfg, ws, None, dry_run=True, now=datetime.now(UTC), images=images)
    moving = sum(1 for i in report.images if i.decision == Decision.PROMOTE)
    return time.perf_counter() - start, moving


def run_arrivals(cfg: Config, root: Path, names: list[str], *, shared: bool) -> float:
    start = time.perf_counter()
    find = cached_finder() if shared else None
    with GitWorkspace.open(root) as ws:
        head = ws.branch_head("main") or ""
        for loc in Snapshots(ws).locate_env(cfg, "dev", head, names):
            arrival(ws, head, loc, find=find)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--few", type=int, default=10, help="images for the unshared comparison")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-promote-") as tmp:
        root = Path(tmp)
        build(root, args.images, args.commits)
        cfg = load_config(root / ".promoter.yaml", root=root)
        run_promote(cfg, root)  # warm-up
        runs = [run_promote(cfg, root) for _ in range(args.rounds)]
        p, moving = statistics.median(t for t, _ in runs), runs[0][1]
        f = statistics.median(run_floor(cfg, root) for _ in range(args.rounds))
        names = [i.name for i in cfg.images[:args.few]]
        shared = statistics.median(run_arrivals(cfg, root, names, shared=True)
                                   for _ in range(args.rounds))
        unshared = statistics.median(run_arrivals(cfg, root, names, shared=False)
                                     for _ in range(args.rounds))
    print(f"{args.images} images x 3 environments, {args.commits} commits; "
          f"{moving} image steps to promote")
    print(f"promote  {p:7.2f} s   promote/floor {p / f:5.2f}x")
    print(f"floor    {f:7.2f} s")
    print(f"arrivals of {len(names)} dev images: shared parse {shared:.2f} s, "
          f"unshared {unshared:.2f} s: unshared/shared {unshared / shared:5.2f}x")


if __name__ == "__main__":
    main()
