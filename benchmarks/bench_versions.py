#!/usr/bin/env python3
"""Tag parsing and ordering: ``parse_version`` (uncached) and a sort by precedence key over a
mixed set of registry tags, next to a floor measured in the same process: the tag regex alone
plus ``semver.Version.parse`` of the strict-semver tags (what any semver-aware parser pays).

    python benchmarks/bench_versions.py [--tags 20000] [--rounds 5]

Prints medians in microseconds per tag and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import semver  # noqa: E402

from benchmarks.benchlib import median, ratio  # noqa: E402
from promoter import versions  # noqa: E402


def make_tags(n: int, seed: int = 7) -> list[str]:
    """Registry-like tags: semver with and without v, partials, prereleases, variants, junk."""
    rnd = random.Random(seed)
    shapes: list[Callable[[int, int, int], str]] = [
        lambda a, b, c: f"{a}.{b}.{c}",
        lambda a, b, c: f"v{a}.{b}.{c}",
        lambda a, b, c: f"{a}.{b}.{c}-rc.{c % 4}",
        lambda a, b, c: f"{a}.{b}.{c}-alpine",
        lambda a, b, c: f"{a}.{b}",
        lambda a, b, c: f"{a}.{b}.{c}.{a + b}",
        lambda a, b, c: f"{a}.{b}.{c}b{c % 3}",
        lambda a, b, c: f"sha-{a:04x}{b:04x}{c:04x}",
    ]
    return [rnd.choice(shapes)(rnd.randrange(30), rnd.randrange(50), rnd.randrange(n))
            for _ in range(n)]


def ours(tags: Sequence[str]) -> None:
    parse = versions.parse_version.__wrapped__
    found = [v for v in map(parse, tags) if v is not None]
    found.sort(key=lambda v: v.key)


def floor(tags: Sequence[str]) -> None:
    match, parse = versions._TAG_VERSION.match, semver.Version.parse
    found = []
    for t in tags:
        if match(t) is not None:
            try:
                found.append(parse(t[1:] if t[:1] in "vV" else t))
            except ValueError:
                pass
    found.sort()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    tags = make_tags(args.tags)
    times: dict[str, list[float]] = {"parse_version + sort": [], "floor (regex + semver)": []}
    for _ in range(args.rounds):  # interleaved, so drift on a shared machine hits both
        for name, fn in (("parse_version + sort", ours), ("floor (regex + semver)", floor)):
            start = time.perf_counter()
            fn(tags)
            times[name].append(time.perf_counter() - start)
    us = {k: median(v) / len(tags) * 1e6 for k, v in times.items()}
    for name, value in us.items():
        print(f"{name:24} {value:7.2f} us/tag")
    r = ratio(us["parse_version + sort"], us["floor (regex + semver)"])
    print(f"{'ratio to floor':24} {r:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
