#!/usr/bin/env python3
"""promoter's side of the registry benchmarks: the scan ``poll`` runs, timed in-process.

For every image it runs :func:`promoter.registry.scan.scan` on a fresh
:class:`~promoter.registry.oci.OciRegistry` (cold token cache, as ``crawl.py`` starts each run
cold) with a ``pick`` that chooses the tag by :func:`promoter.policy.select` (strategy
``semver``, the image's current tag as ``current``), so the scan resolves the chosen tag's
digest with one manifest ``HEAD`` - what the floor crawler does. The images come from

* ``--host H --prefix P --count N``: ``H/P-0000`` ... at ``--current-tag`` (default 1.2.3);
  with ``--known-digest`` (needs ``--expected``) every image already runs the newest stable
  tag with its digest, the steady state of a poll where nothing changed, and the scan may skip
  the ``HEAD``;
* ``--images-from DIR``: every image reference promoter's edit engine finds in the YAML files
  under DIR (the Renovate comparison), each at the tag written there.

Prints JSON like ``crawl.py``: per run ``wall_s``, ``http_requests`` (every exchange on the
wire, 401s, pings and token calls included, from ``OciRegistry.stats``), ``requests_by_kind``,
``errors``; with ``--expected`` how many chosen tags and digests match the ground truth; with
``--proposals`` the chosen tag per image name.

Credentials (token mode) go through promoter's own credential store, as
``PROMOTER_REGISTRY_<HOST>_USERNAME`` / ``_PASSWORD`` in the environment it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from promoter.policy import TagPolicy, select
from promoter.refs import ImageRef
from promoter.registry.creds import CredentialStore, env_key
from promoter.registry.oci import OciRegistry
from promoter.registry.scan import scan


def images_from_files(root: Path) -> tuple[ImageRef, ...]:
    """The images the YAML under ``root`` runs. A Kustomize entry's ``ref`` is its ``name``;
    the image pulled is its ``newName`` (``name_span``) when there is one."""
    from promoter.edit.model import Kind
    from promoter.edit.ops import find_in_paths

    sites, problems = find_in_paths([str(root)])
    if problems:
        raise SystemExit(f"edit engine skipped files: {problems}")
    refs = []
    for site in sites:
        ref = site.ref
        if site.kind is Kind.KUSTOMIZE and site.name_span is not None:
            text = Path(site.file).read_text(encoding="utf-8")
            span = site.name_span
            new = ImageRef.parse(text[span.start:span.end].strip().strip("'\""))
            ref = new.with_tag(ref.tag).with_digest(ref.digest)
        refs.append(ref)
    return tuple(dict.fromkeys(refs))


def images_from_args(args: argparse.Namespace) -> tuple[ImageRef, ...]:
    names = [f"{args.prefix}-{i:04d}" for i in range(args.count)]
    if not args.known_digest:
        return tuple(ImageRef(args.host, n, args.current_tag) for n in names)
    truth = json.loads(args.expected.read_text())["repos"]
    return tuple(ImageRef(args.host, n, truth[n]["newest_stable"],
                          truth[n]["digests"][truth[n]["newest_stable"]]) for n in names)


async def scan_once(images: tuple[ImageRef, ...], creds: CredentialStore, concurrency: int,
                    scope_batch: int | None = None) -> dict[str, Any]:
    policy = TagPolicy(strategy="semver")
    chosen: dict[str, str | None] = {}

    def pick(image: ImageRef, tags: tuple[str, ...]) -> tuple[str, ...]:
        tag = select(policy, tags, current=image.tag)
        chosen[image.name] = tag
        return (tag,) if tag else ()

    t0 = time.perf_counter()
    reg = (OciRegistry(credentials=creds, concurrency=concurrency, scope_batch=scope_batch)
           if scope_batch else OciRegistry(credentials=creds, concurrency=concurrency))
    async with reg:
        results = await scan(images, reg, pick=pick)
    wall = time.perf_counter() - t0
    stats = dict(sorted(reg.stats.items()))
    errors = [f"{r.image}: {r.error}" for r in results if r.error]
    wire = sum(v for k, v in stats.items() if k != "retries" and not k.endswith("_failed"))
    return {
        "images": len(images),
        "wall_s": round(wall, 3),
        "http_requests": wire,
        "requests_per_image": round(wire / len(images), 3) if images else None,
        "requests_by_kind": stats,
        "tags_seen": sum(len(r.tags) for r in results),
        "errors": len(errors),
        "first_errors": errors[:5],
        "_results": results,
        "_chosen": chosen,
    }


def check(run: dict[str, Any], truth: dict[str, Any]) -> dict[str, int]:
    newest_ok = digest_ok = 0
    for r in run["_results"]:
        want = truth.get(r.image.repository)
        tag = run["_chosen"].get(r.image.name)
        if want is None or tag is None:
            continue
        newest_ok += want["newest_stable"] == tag
        info = r.manifests.get(tag)
        digest_ok += info is not None and want["digests"].get(tag) == info.digest
    return {"expected_repos": len(truth), "newest_ok": newest_ok, "digest_ok": digest_ok}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    images = images_from_files(args.images_from) if args.images_from else images_from_args(args)
    with tempfile.TemporaryDirectory() as empty:
        environ = {"DOCKER_CONFIG": empty}  # never the docker config of whoever runs this
        if args.user:
            for host in {i.registry for i in images}:
                environ[f"PROMOTER_REGISTRY_{env_key(host)}_USERNAME"] = args.user
                environ[f"PROMOTER_REGISTRY_{env_key(host)}_PASSWORD"] = args.password or ""
        truth = json.loads(args.expected.read_text())["repos"] if args.expected else None
        runs = []
        for _ in range(args.repeat):
            run = await scan_once(images, CredentialStore(environ), args.concurrency,
                                  args.scope_batch)
            if truth is not None:
                run["check"] = check(run, truth)
            if args.proposals:
                run["proposals"] = dict(sorted(run["_chosen"].items()))
            del run["_results"], run["_chosen"]
            runs.append(run)
    walls = [r["wall_s"] for r in runs]
    return {"runs": runs, "wall_min_s": min(walls),
            "wall_median_s": round(statistics.median(walls), 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="registry host, 127.0.0.1:PORT")
    p.add_argument("--prefix", default="bench/app")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--current-tag", default="1.2.3")
    p.add_argument("--known-digest", action="store_true",
                   help="images already run the newest tag with its digest (needs --expected)")
    p.add_argument("--images-from", type=Path, help="scan the images found in these files")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--concurrency", type=int, default=32,
                   help="the most requests in flight per host")
    p.add_argument("--scope-batch", type=int,
                   help="repository scopes per token request (default: OciRegistry's)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--expected", type=Path, help="ground truth JSON from seed.py --expected")
    p.add_argument("--proposals", action="store_true", help="print the chosen tag per image")
    args = p.parse_args(argv)
    if not args.images_from and not (args.host and args.count > 0):
        p.error("give --host and --count, or --images-from")
    if args.known_digest and not args.expected:
        p.error("--known-digest needs --expected")
    print(json.dumps(asyncio.run(main_async(args)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
