"""How the comment path (``commands.parse`` and the ``secrets.redact`` every answer goes
through) grows with hostile comments, as ratios measured in this process.

For each shape the time at each size is printed as a ratio to the same shape at the smallest
size: linear work grows about as the size does (x4 per step), quadratic work as its square
(x16). The last column compares the old URL-credentials pattern (quadratic) with the one in
use, on the same text.

    python benchmarks/bench_comment.py [--sizes 16000,64000,256000,1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from promoter import commands, secrets

# the pattern redact used before issue 15 (item 4): the baseline of the last column
OLD_URL_CREDS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")

SHAPES: dict[str, Callable[[int], str]] = {
    "/promote + one word": lambda n: "/promote " + "a" * n,
    "many commands": lambda n: "/hold\n" * (n // 6),
    "open fences": lambda n: "```\n" * (n // 4),
    "prose": lambda n: ("LGTM, thanks! Looks good to me.\n" * (n // 32)),
}


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def comment_path(body: str) -> None:
    for cmd in commands.parse(body):
        secrets.redact(f"not done: {commands.describe(cmd)}")
    secrets.redact(body)  # the log line that names the comment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="16000,64000,256000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'shape':22} " + " ".join(f"{s:>10,}" for s in sizes) + "   old/new at "
          f"{sizes[0]:,}")
    for name, make in SHAPES.items():
        print(f"{name:22} " + row(make, sizes, args.rounds))


def row(make: Callable[[int], str], sizes: list[int], rounds: int) -> str:
    bodies = [make(s) for s in sizes]
    times = [best(lambda b=b: comment_path(b), rounds) for b in bodies]  # type: ignore[misc]
    text = bodies[0]
    old = best(lambda: OLD_URL_CREDS.sub("", text), rounds)
    new = best(lambda: secrets.redact(text), rounds)
    return " ".join(f"{t / times[0]:>9.1f}x" for t in times) + f"   {old / new:>9.1f}x"

if __name__ == "__main__":
    main()
