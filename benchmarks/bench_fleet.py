#!/usr/bin/env python3
"""A fleet's registry cost: ``plan`` over R repositories sharing N images against one
repository holding the N images, same registry, same process, same run.

World: Debian's ``docker-registry`` serving ``seed.py``'s store of N repositories x ``--tags``
tags; GitOps checkouts made by ``bench_poll_world.py``'s generator (Kustomize overlays and Helm
values, every quoting style), ``forge: local``.

* ``one repo``: one repository holding all N images (the baseline);
* ``fleet``: R repositories, repository r holding the images ``r*N/R .. r*N/R + S - 1`` (mod N)
  with S = ``--overlap`` x N/R, so every image is pinned by ``--overlap`` repositories and
  the union is the N images; the registry answers are shared across the fleet
  (:mod:`promoter.registry.shared`);
* ``fleet, unshared``: the same fleet with a fresh cache per repository, as R separate jobs
  would run (what the sharing saves);
* ``fleet, next run``: the fleet again with the answers a run before kept
  (:mod:`promoter.registry.httpcache`, as ``watch`` keeps them in memory and
  ``PROMOTER_CACHE_DIR`` on disk): content-addressed answers are not asked again, manifests
  by tag are asked with their ETag. It saves requests when a policy reads manifests and image
  configs (``--policy newest-build``); ``semver`` asks one manifest HEAD per image, which no
  validator makes cheaper.

Every variant runs through the CLI's own fleet function (``fleet_plan``), ``--parallel`` at a
time; registry requests are counted by the registry client's observer (every HTTP exchange,
token and ping included). Figures: median wall seconds of ``--rounds`` rounds (interleaved)
and requests, each as a ratio to ``one repo``. The exit status is 1 when a plan is not the
expected one (``semver``: every image planned once per repository holding it;
``newest-build``: every fleet variant plans the same pull requests).

    python benchmarks/bench_fleet.py [--images 1000] [--repos 50] [--overlap 1] [--rounds 3]
                                     [--policy semver|newest-build]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_poll_world import config_text, gitops_files, write_repo  # noqa: E402
from benchlib import default_work, ensure_store, median, ratio, write_json  # noqa: E402

from promoter.cli.fleet import FleetRun, Resolved  # noqa: E402
from promoter.cli.poll_cmds import fleet_plan  # noqa: E402
from promoter.config import Config  # noqa: E402
from promoter.fleet import Fleet, Member  # noqa: E402
from promoter.registry import Registry  # noqa: E402
from promoter.registry.httpcache import MemoryCache  # noqa: E402
from promoter.registry.shared import RunCache, Shared  # noqa: E402
from tests.servers.registry import LocalRegistry  # noqa: E402


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self, host: str, kind: str, status: int | None, seconds: float) -> None:
        with self._lock:
            self.n += 1


class Unshared(FleetRun):
    """Each repository its own cache: R separate jobs."""

    def registry(self, cfg: Config) -> Registry:
        shared = super().registry(cfg)
        assert isinstance(shared, Shared)
        return Shared(shared.inner, RunCache(), scope=shared.scope)


def _config(host: str, n: int, policy: str, images: Sequence[int] | None = None) -> str:
    text = config_text(host, n, forge={"type": "local"}, images=images)
    if policy == "newest-build":  # every 1.x tag's build time: manifests and config blobs
        text = text.replace('    semver: "^1.0"', '    strategy: newest-build\n'
                                                     '    allow: "^1\\\\.[0-9]+\\\\.[0-9]+$"')
    return text


def make_repos(root: Path, host: str, n: int, repos: int, overlap: int, policy: str
               ) -> tuple[Path, list[Path], list[int]]:
    """The one-repo checkout, the fleet's checkouts, and how many images each fleet repo
    holds."""
    single = root / "one"
    write_repo(single, {**gitops_files(host, n), ".promoter.yaml": _config(host, n, policy)})
    step = max(1, n // repos)
    size = min(n, step * overlap)
    paths, sizes = [], []
    for r in range(repos):
        ids = sorted({(r * step + t) % n for t in range(size)})
        path = root / f"fleet-{r:03d}"
        write_repo(path, {**gitops_files(host, len(ids), images=ids),
                          ".promoter.yaml": _config(host, len(ids), policy, ids)})
        paths.append(path)
        sizes.append(len(ids))
    return single, paths, sizes


def run(paths: Sequence[Path], parallel: int, kind: type[FleetRun],
        kept: MemoryCache | None = None) -> tuple[float, int, int]:
    """(wall seconds, registry requests, pull requests planned) of one fleet ``plan``."""
    counter = Counter()
    found = Resolved(fleet=Fleet(members=tuple(Member(name=p.name, path=p) for p in paths)))
    start = time.perf_counter()
    report = fleet_plan(found, (), (), dry_run=True, do_poll=False, shard=None,
                        parallel=parallel, run=kind(observer=counter, kept=kept))
    wall = time.perf_counter() - start
    bad = [r for r in report.runs if r.exit_code]
    if bad:
        raise SystemExit(f"{bad[0].name}: {bad[0].problems[:1]}")
    planned = sum(len(r.result.plan.pull_requests) for r in report.runs if r.result)
    return wall, counter.n, planned


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--repos", type=int, default=50)
    p.add_argument("--overlap", type=int, default=1,
                   help="how many fleet repositories pin each image")
    p.add_argument("--tags", type=int, default=10, help="tags per registry repository")
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--policy", choices=("semver", "newest-build"), default="semver")
    p.add_argument("--work", type=Path, default=default_work(), help="seeded stores kept here")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    store = ensure_store(args.work, args.images, args.tags)
    home = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    os.environ["HOME"] = str(home)
    for var in [k for k in os.environ if k.startswith(("PROMOTER_", "DOCKER_", "REGISTRY_"))]:
        del os.environ[var]
    ok = True
    with LocalRegistry("anonymous", storage=store.path) as reg:
        single, fleet, sizes = make_repos(home, reg.host, args.images, args.repos,
                                          args.overlap, args.policy)
        print(f"{args.repos} repositories of {min(sizes)}-{max(sizes)} images "
              f"({sum(sizes)} pins of {args.images} images), one of {args.images}; "
              f"{args.tags} tags each, --parallel {args.parallel}", file=sys.stderr)
        run([single], 1, FleetRun)  # warm-up: registry caches, imports
        kept = MemoryCache()
        run(fleet, args.parallel, FleetRun, kept)  # the run before "next run"
        variants = {"one repo": ([single], FleetRun, args.images, None),
                    "fleet": (fleet, FleetRun, sum(sizes), None),
                    "fleet, unshared": (fleet, Unshared, sum(sizes), None),
                    "fleet, next run": (fleet, FleetRun, sum(sizes), kept)}
        walls: dict[str, list[float]] = {k: [] for k in variants}
        planned_by: dict[int, int] = {}  # newest-build: every fleet variant plans alike
        reqs: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, (paths, kind, expected, cache) in variants.items():
                wall, n, planned = run(paths, args.parallel, kind, cache)
                if args.policy == "newest-build":  # some images already run their newest
                    expected = planned_by.setdefault(len(paths), planned)
                if planned != expected:
                    print(f"{name}: {planned} pull requests planned, expected {expected}",
                          file=sys.stderr)
                    ok = False
                walls[name].append(wall)
                reqs[name] = n
    base_wall, base_reqs = median(walls["one repo"]), reqs["one repo"]
    print(f"policy {args.policy}")
    print(f"{'variant':<18}{'wall s':>9}{'x one':>8}{'requests':>10}{'x one':>8}")
    doc = {}
    for name in variants:
        w = median(walls[name])
        print(f"{name:<18}{w:>9.2f}{ratio(w, base_wall):>8.2f}{reqs[name]:>10}"
              f"{ratio(reqs[name], base_reqs):>8.2f}")
        doc[name] = {"wall": w, "requests": reqs[name], "walls": walls[name]}
    write_json(args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "runs": doc})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
