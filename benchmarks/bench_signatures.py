#!/usr/bin/env python3
"""The signature gate's checks of one run: many images at once against one at a time.

Debian's ``docker-registry`` is started on 127.0.0.1 (``tests/servers/registry.py``); ``--images``
images are pushed, each signed with a freshly generated key the way cosign stores it (the
``sha256-<hex>.sig`` tag). The checks talk to it directly, and through the fault proxy
(``tests/servers/fault_proxy.py``) adding ``--latency`` seconds to every request, as a registry
across a network does. Then, for each, alternating and each the median of ``--rounds`` runs, in
this process:

* ``concurrent``: :meth:`promoter.signature_checks.SignatureChecks.prefetch` as the flows call
  it (``CONCURRENCY`` images at a time, one connection pool);
* ``sequential``: the same with a concurrency of 1, the baseline.

Every run checks fresh (a new ``SignatureChecks``, nothing cached) and every gate must pass.
Printed: seconds of each and the ratio sequential/concurrent.

    python benchmarks/bench_signatures.py [--images 32] [--rounds 5] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from benchlib import REPO

sys.path.insert(0, str(REPO))

from promoter import signature_checks  # noqa: E402
from promoter.refs import ImageRef  # noqa: E402
from promoter.registry.oci import OciRegistry  # noqa: E402
from promoter.signature_checks import SignatureChecks  # noqa: E402
from promoter.signing import Requirement, load_key  # noqa: E402
from tests.servers.fault_proxy import FaultProxy  # noqa: E402
from tests.servers.registry import LocalRegistry  # noqa: E402
from tests.signing import cosign  # noqa: E402


def run(asks: list[tuple[str, ImageRef, str | None]], req: Requirement, concurrency: int
        ) -> float:
    saved = signature_checks.CONCURRENCY
    signature_checks.CONCURRENCY = concurrency
    try:
        checks = SignatureChecks(source=OciRegistry(credentials=lambda host: None),
                                 requirements={"prod": req}, now=datetime.now(UTC))
        start = time.perf_counter()
        checks.prefetch(asks)
        took = time.perf_counter() - start
    finally:
        signature_checks.CONCURRENCY = saved
    assert all(checks.gate(*a).passed for a in asks), "every image is signed"
    return took


def measure(asks: list[tuple[str, ImageRef, str | None]], req: Requirement, rounds: int
            ) -> tuple[float, float]:
    """(concurrent, sequential) medians, a warm-up first, the order alternating per round."""
    run(asks, req, signature_checks.CONCURRENCY)
    times: dict[str, list[float]] = {"concurrent": [], "sequential": []}
    for r in range(rounds):
        for name in (("concurrent", "sequential") if r % 2 == 0
                     else ("sequential", "concurrent")):
            times[name].append(run(asks, req, signature_checks.CONCURRENCY
                                   if name == "concurrent" else 1))
    return statistics.median(times["concurrent"]), statistics.median(times["sequential"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.02)
    args = ap.parse_args()
    key = cosign.ec_key()
    req = Requirement(keys=(load_key("cosign.pub", cosign.public_pem(key)),))
    with LocalRegistry("anonymous") as reg:
        pusher = cosign.Pusher(reg.url)
        asks: list[tuple[str, ImageRef, str | None]] = []
        for i in range(args.images):
            repo = f"bench/sig{i}"
            digest = pusher.image(repo, "1.0.0")
            pusher.cosign_tag(repo, digest, [cosign.key_signature(
                key, cosign.payload(digest, f"{reg.host}/{repo}"))])
            asks.append(("prod", ImageRef.parse(f"{reg.host}/{repo}:1.0.0"), digest))
        pusher.close()
        with FaultProxy(reg.url) as proxy:
            proxy.add("slow", path=".", delay=args.latency, times=10**9)
            far = proxy.url.split("://", 1)[1]
            slow = [(e, ImageRef.parse(str(i).replace(reg.host, far, 1)), d) for e, i, d in asks]
            for label, these in (("local", asks), (f"+{args.latency * 1000:.0f} ms", slow)):
                conc, seq = measure(these, req, args.rounds)
                print(f"{label}: images {args.images}, medians of {args.rounds}: concurrent "
                      f"({signature_checks.CONCURRENCY} at a time) {conc:.3f}s, sequential "
                      f"(baseline) {seq:.3f}s, ratio sequential/concurrent {seq / conc:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
