#!/usr/bin/env python3
"""promoter's registry scan against the naive floor (``shared/bench/crawl.py``), same registry,
same store, same run.

For each size (default 200 x 100 and 1,000 x 100 tags, written once by
``seed.py --direct-storage`` and kept in ``--work``) and each auth mode (``anonymous``,
``token``) it starts Debian's ``docker-registry`` on the store with the pagination proxy in
front (``--max-page``, default 50: tags/list comes in sorted pages with ``Link`` headers, as
Docker Hub, GHCR and distribution 3 serve it), then runs, alternating, in fresh processes:

* ``floor``: ``crawl.py --prefix bench/app --count N`` (every tag page, newest stable semver,
  one manifest HEAD per repository, one token per repository in token mode);
* ``promoter``: ``scan_once.py`` (``scan`` + ``OciRegistry`` + the ``semver`` policy choosing
  the newest stable tag from ``1.2.3``, and its digest by HEAD, like the floor);
* ``promoter-steady`` (``--steady``): the same with every image already at the newest tag with
  its digest, the poll that finds nothing new; the scan skips the HEAD.

A warm-up run of each goes first and is not counted. Each figure is the median of
``--rounds`` runs (default 3); the rounds alternate the order (floor first, then promoter
first) so drift on a shared machine hits both sides alike. Wall times are measured inside each
process around the crawl/scan (interpreter start and imports excluded, as ``crawl.py`` does);
peak RSS is each child's own ``ru_maxrss``.

Prints a table and, with ``--json FILE``, every run. Targets (issue 3): wall time <= 1.3x the
floor anonymous and <= 1.0x in token mode; peak RSS < 200 MB at 1,000 images. The exit status
is 0 when every target is met, 1 otherwise.

    python benchmarks/bench_registry.py                         # both sizes, both modes
    python benchmarks/bench_registry.py --sizes 200 --modes token --rounds 5
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    SERVERS,
    Measured,
    Store,
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
TARGET_WALL = {"anonymous": 1.3, "token": 1.0}
TARGET_RSS_MB = 200.0


def commands(store: Store, reg: Any, n: int, concurrency: int
             ) -> dict[str, list[str]]:
    creds = cred_args(reg)
    common = ["--prefix", store.prefix, "--count", str(n), "--expected", str(store.truth),
              "--concurrency", str(concurrency), *creds]
    py = sys.executable
    return {
        "floor": [py, str(shared_bench() / "crawl.py"), "--url", reg.url, *common],
        "promoter": [py, str(SCAN_ONCE), "--host", reg.host, *common],
        "promoter-steady": [py, str(SCAN_ONCE), "--host", reg.host, "--known-digest", *common],
    }


def summarize(side: str, runs: list[Measured]) -> dict[str, Any]:
    inner = [m.output["runs"][0] for m in runs]
    first = inner[0]
    return {
        "side": side,
        "wall_median_s": round(median([r["wall_s"] for r in inner]), 3),
        "walls_s": [r["wall_s"] for r in inner],
        "http_requests": first["http_requests"],
        "requests_by_kind": first["requests_by_kind"],
        "peak_rss_mb": round(max(m.peak_rss_mb for m in runs), 1),
        "client_cpu_median_s": round(median([m.cpu_s for m in runs]), 3),
        "server_cpu_median_s": round(median([m.server_cpu_s for m in runs]), 3),
        "cpu_median_s": round(median([m.cpu_s + m.server_cpu_s for m in runs]), 3),
        "errors": max(r["errors"] for r in inner),
        "check": first.get("check"),
    }


def bench_one(store: Store, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    import_path(SERVERS)
    local_registry = importlib.import_module("registry").LocalRegistry  # tests/servers

    sides = ["floor", "promoter"] + (["promoter-steady"] if args.steady else [])
    runs: dict[str, list[Measured]] = {s: [] for s in sides}
    env = child_env()
    with local_registry(mode, storage=store.path, paginate=args.max_page) as reg:
        cmds = commands(store, reg, store.repos, args.concurrency)
        for side in sides:  # warm-up: file cache, registry and proxy threads
            run_measured(cmds[side], env=env)
        watch = server_pids(reg)
        for i in range(args.rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            for side in order:
                m = run_measured(cmds[side], env=env, watch=watch)
                runs[side].append(m)
                print(f"  {store.repos:>5} {mode:<9} {side:<16} round {i + 1}: "
                      f"{m.output['runs'][0]['wall_s']:.2f} s, cpu {m.cpu_s:.2f} + "
                      f"{m.server_cpu_s:.2f} s, {m.peak_rss_mb:.0f} MB",
                      file=sys.stderr, flush=True)
    out = {s: summarize(s, r) for s, r in runs.items()}
    floor = out["floor"]
    for s in sides[1:]:
        out[s]["wall_ratio"] = ratio(out[s]["wall_median_s"], floor["wall_median_s"])
        out[s]["cpu_ratio"] = ratio(out[s]["cpu_median_s"], floor["cpu_median_s"])
    return {"repos": store.repos, "tags": store.tags, "mode": mode,
            "max_page": args.max_page, "sides": out}


def verdicts(result: dict[str, Any]) -> list[str]:
    """The targets this result misses."""
    missed = []
    prom = result["sides"]["promoter"]
    limit = TARGET_WALL[result["mode"]]
    where = f"{result['repos']} x {result['tags']} {result['mode']}"
    if prom["wall_ratio"] > limit:
        missed.append(f"{where}: wall {prom['wall_ratio']}x the floor (target <= {limit}x)")
    if result["repos"] >= 1000 and prom["peak_rss_mb"] >= TARGET_RSS_MB:
        missed.append(f"{where}: peak RSS {prom['peak_rss_mb']} MB (target < {TARGET_RSS_MB})")
    for side in result["sides"].values():
        check = side["check"] or {}
        if side["errors"] or check.get("newest_ok") != result["repos"] \
                or check.get("digest_ok") != result["repos"]:
            missed.append(f"{where}: {side['side']} errors={side['errors']} check={check}")
    return missed


def table(results: list[dict[str, Any]]) -> str:
    head = (f"{'images':>6} {'mode':<9} {'side':<16} {'wall s':>7} {'ratio':>6} "
            f"{'cpu s':>6} {'ratio':>6} {'req/img':>7} {'RSS MB':>6}  requests by kind")
    lines = [head, "-" * len(head)]
    for res in results:
        for side in res["sides"].values():
            kinds = ", ".join(f"{k} {v}" for k, v in side["requests_by_kind"].items())
            lines.append(
                f"{res['repos']:>6} {res['mode']:<9} {side['side']:<16} "
                f"{side['wall_median_s']:>7.2f} {side.get('wall_ratio', 1.0):>6.2f} "
                f"{side['cpu_median_s']:>6.2f} {side.get('cpu_ratio', 1.0):>6.2f} "
                f"{side['http_requests'] / res['repos']:>7.2f} {side['peak_rss_mb']:>6.0f}  "
                f"{kinds}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[200, 1000], help="repositories")
    p.add_argument("--tags", type=int, default=100, help="tags per repository")
    p.add_argument("--modes", nargs="+", choices=sorted(TARGET_WALL),
                   default=["anonymous", "token"])
    p.add_argument("--rounds", type=int, default=3, help="measured runs per side (median)")
    p.add_argument("--max-page", type=int, default=50,
                   help="pagination proxy page cap (0: only honour ?n=)")
    p.add_argument("--concurrency", type=int, default=32,
                   help="the most requests in flight per host, both sides")
    p.add_argument("--steady", action="store_true",
                   help="also time the poll that finds nothing new (no manifest HEAD)")
    p.add_argument("--work", type=Path, default=default_work(), help="seeded stores live here")
    p.add_argument("--json", type=Path, help="write every figure here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    results = []
    for n in args.sizes:
        store = ensure_store(args.work, n, args.tags)
        for mode in args.modes:
            results.append(bench_one(store, mode, args))
    print(table(results))
    missed = [m for r in results for m in verdicts(r)]
    print("\n".join(["", "targets missed:", *missed]) if missed else "\nall targets met")
    if args.json:
        write_json(args.json, {"results": results, "missed": missed})
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
