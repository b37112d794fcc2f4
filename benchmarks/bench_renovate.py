#!/usr/bin/env python3
"""promoter next to Renovate on the same images, the same registry, the same run.

It starts Debian's ``docker-registry`` on a seeded store (``--images`` x 100 tags, written once
by ``seed.py --direct-storage`` into ``--work``) behind the pagination proxy (``--max-page``),
in ``--mode`` (default ``token``), and then:

* **Renovate**: ``shared/bench/renovate_bench.py`` builds a git repository with the images
  (half as kustomization ``images:`` entries, half as Helm ``values.yaml`` blocks, all at
  ``1.2.3``) and runs ``renovate --platform=local`` (lookup-only dry run, cold cache) on it;
  the figure is that process's wall time, median of ``--renovate-rounds`` (default 1).
  Install Renovate outside the repository first::

      bash ../shared/bench/install_renovate.sh /tmp/renovate
      export RENOVATE_BIN=/tmp/renovate/node_modules/.bin/renovate

* **promoter**: the same fixture (``renovate_bench.write_fixture``), then in a fresh process
  (``scan_once.py --images-from``): find the images with promoter's edit engine, scan them
  with ``OciRegistry``, choose by the ``semver`` policy from the current tag and resolve the
  digest. The figure is that whole process's wall time (interpreter start and imports
  included, as Renovate's includes Node's), median of ``--rounds``.

Then it compares the proposals (image -> new tag) of both and prints the speed-up
(Renovate's wall / promoter's). Target (issue 3): promoter at least 6x faster, with the same
proposals. Exit status 0 when both hold.

    python benchmarks/bench_renovate.py --renovate /tmp/renovate/node_modules/.bin/renovate
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    SERVERS,
    child_env,
    cred_args,
    default_work,
    ensure_store,
    import_path,
    median,
    ratio,
    run_measured,
    server_pids,
    shared_bench,
    write_json,
)

SCAN_ONCE = REPO / "benchmarks" / "scan_once.py"
TARGET_SPEEDUP = 6.0
CURRENT = "1.2.3"


def renovate_side(args: argparse.Namespace, reg: Any, truth: Path, logs: Path
                  ) -> dict[str, Any]:
    """Run renovate_bench.py ``--renovate-rounds`` times (each cold); the median figures plus
    every proposal from the last log."""
    bench = shared_bench()
    import_path(bench)
    parse_log = importlib.import_module("renovate_bench").parse_log
    cmd = [sys.executable, str(bench / "renovate_bench.py"), "--renovate", args.renovate,
           "--registry", reg.url, "--images", str(args.images), "--current-tag", CURRENT,
           "--expected", str(truth), "--keep-logs", str(logs), *cred_args(reg)]
    runs = []
    for i in range(args.renovate_rounds):
        runs.append(run_measured(cmd, env=child_env(), watch=server_pids(reg)))
        print(f"renovate round {i + 1}: {runs[-1].output['results'][0]['cold']['wall_s']:.1f} s",
              file=sys.stderr, flush=True)
    colds = [m.output["results"][0]["cold"] for m in runs]
    cold = colds[-1]
    proposals: dict[str, str] = {}
    for up in parse_log(logs / f"renovate-{args.images}-cold.log")["updates"]:
        key = up["package"]  # several per image would be a difference worth seeing
        proposals[key] = up["new"] if key not in proposals else f"{proposals[key]},{up['new']}"
    return {
        "wall_s": round(median([c["wall_s"] for c in colds]), 3),
        "walls_s": [c["wall_s"] for c in colds],
        "repo_total_ms": cold["repo_total_ms"],
        "http_requests": cold["renovate_http_requests"],
        "deps_found": cold["deps_found"],
        "updates_proposed": cold["updates_proposed"],
        "match_newest_stable": cold.get("match_newest_stable"),
        "errors": cold["errors"],
        "warnings": cold["warnings"],
        # renovate_bench.py and the Renovate it waited for
        "cpu_s": round(median([m.cpu_s for m in runs]), 3),
        "server_cpu_s": round(median([m.server_cpu_s for m in runs]), 3),
        "_proposals": proposals,
    }


def promoter_side(args: argparse.Namespace, reg: Any, truth: Path, fixture: Path
                  ) -> dict[str, Any]:
    creds = cred_args(reg)
    cmd = [sys.executable, str(SCAN_ONCE), "--images-from", str(fixture), "--proposals",
           "--expected", str(truth), "--concurrency", str(args.concurrency), *creds]
    runs = [run_measured(cmd, env=child_env(), watch=server_pids(reg)) for _ in range(args.rounds)]
    inner = [m.output["runs"][0] for m in runs]
    proposals = {k: v for k, v in inner[0]["proposals"].items() if v and v != CURRENT}
    return {
        "process_wall_median_s": round(median([m.process_s for m in runs]), 3),
        "process_walls_s": [round(m.process_s, 3) for m in runs],
        "scan_wall_median_s": round(median([r["wall_s"] for r in inner]), 3),
        "http_requests": inner[0]["http_requests"],
        "requests_by_kind": inner[0]["requests_by_kind"],
        "images_found": inner[0]["images"],
        "errors": inner[0]["errors"],
        "check": inner[0].get("check"),
        "peak_rss_mb": round(max(m.peak_rss_mb for m in runs), 1),
        "cpu_median_s": round(median([m.cpu_s for m in runs]), 3),
        "server_cpu_median_s": round(median([m.server_cpu_s for m in runs]), 3),
        "_proposals": proposals,
    }


def _version(tag: str | None) -> str | None:
    return tag[1:] if tag and tag[:1] in "vV" and tag[1:2].isdigit() else tag


def compare(renovate: dict[str, str], promoter: dict[str, str]) -> dict[str, Any]:
    """Per image: the same tag text, or the same version written with or without ``v``
    (the seeded repositories carry both ``1.7.8`` and ``v1.7.8``; Renovate treats them as one
    version and proposes whichever the registry lists last)."""
    keys = sorted(set(renovate) | set(promoter))
    differ = {k: {"renovate": renovate.get(k), "promoter": promoter.get(k)}
              for k in keys if renovate.get(k) != promoter.get(k)}
    same_version = sum(1 for k in keys if renovate.get(k) is not None
                       and _version(renovate.get(k)) == _version(promoter.get(k)))
    return {"images_compared": len(keys), "same_tag": len(keys) - len(differ),
            "same_version": same_version, "different_version": len(keys) - same_version,
            "first_differences": dict(list(differ.items())[:5])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--renovate", default=os.environ.get("RENOVATE_BIN") or shutil.which("renovate"),
                   help="the renovate executable (default: $RENOVATE_BIN, then PATH)")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--tags", type=int, default=100, help="tags per repository")
    p.add_argument("--mode", choices=["anonymous", "token"], default="token")
    p.add_argument("--rounds", type=int, default=3, help="promoter runs (median)")
    p.add_argument("--renovate-rounds", type=int, default=1,
                   help="Renovate runs (median; each takes a minute or more)")
    p.add_argument("--max-page", type=int, default=50, help="pagination proxy page cap")
    p.add_argument("--concurrency", type=int, default=32,
                   help="the most requests promoter has in flight per host (it adapts below it; "
                        "OciRegistry's default: 32)")
    p.add_argument("--work", type=Path, default=default_work(), help="seeded stores live here")
    p.add_argument("--json", type=Path, help="write every figure here")
    args = p.parse_args(argv)
    if not args.renovate:
        p.error("no renovate: pass --renovate or set RENOVATE_BIN (see --help)")
    store = ensure_store(args.work, args.images, args.tags)
    import_path(SERVERS)
    local_registry = importlib.import_module("registry").LocalRegistry  # tests/servers
    import_path(shared_bench())
    write_fixture = importlib.import_module("renovate_bench").write_fixture
    with tempfile.TemporaryDirectory(prefix="promoter-vs-renovate-") as tmp, \
            local_registry(args.mode, storage=store.path, paginate=args.max_page) as reg:
        fixture = Path(tmp) / "repo"
        write_fixture(fixture, reg.host, store.prefix, args.images, CURRENT)
        # one promoter run first, not counted: it warms the registry's file cache for Renovate
        run_measured([sys.executable, str(SCAN_ONCE), "--images-from", str(fixture),
                      *cred_args(reg)], env=child_env())
        print("renovate ...", file=sys.stderr, flush=True)
        renovate = renovate_side(args, reg, store.truth, Path(tmp) / "logs")
        print("promoter ...", file=sys.stderr, flush=True)
        promoter = promoter_side(args, reg, store.truth, fixture)
    same = compare(renovate.pop("_proposals"), promoter.pop("_proposals"))
    speedup = ratio(renovate["wall_s"], promoter["process_wall_median_s"])
    result = {"images": args.images, "tags": args.tags, "mode": args.mode,
              "max_page": args.max_page, "concurrency": args.concurrency,
              "renovate": renovate, "promoter": promoter,
              "proposals": same, "speedup": speedup,
              "cpu_speedup": ratio(renovate["cpu_s"], promoter["cpu_median_s"])}
    print(f"{args.images} images, {args.mode} mode, pages of {args.max_page} tags\n"
          f"  renovate  {renovate['wall_s']:7.2f} s  ({renovate['http_requests']} requests, "
          f"{renovate['updates_proposed']} proposals, cpu {renovate['cpu_s']:.1f} s + servers "
          f"{renovate['server_cpu_s']:.1f} s)\n"
          f"  promoter  {promoter['process_wall_median_s']:7.2f} s  whole process "
          f"(scan {promoter['scan_wall_median_s']:.2f} s, {promoter['http_requests']} requests,"
          f" {promoter['peak_rss_mb']:.0f} MB, cpu {promoter['cpu_median_s']:.1f} s + servers "
          f"{promoter['server_cpu_median_s']:.1f} s)\n"
          f"  speed-up  {speedup:.1f}x wall (target >= {TARGET_SPEEDUP}x), "
          f"{result['cpu_speedup']:.1f}x cpu\n"
          f"  proposals {same['same_version']}/{same['images_compared']} the same version, "
          f"{same['same_tag']} the same tag text")
    if args.json:
        write_json(args.json, result)
    ok = speedup >= TARGET_SPEEDUP and same["different_version"] == 0 and same["same_version"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
