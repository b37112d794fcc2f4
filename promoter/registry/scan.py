"""The scan ``poll`` runs: every image's tags, and the manifests a policy asks for, concurrently.

:func:`scan` never raises for one image: each failure (a registry error, a bad policy, even a bug)
ends up in that image's :class:`~promoter.registry.ScanResult` ``error`` and the other images
go on. Images of one repository share a single ``tags/list``. Requests are few:

* ``registry.prepare(images)`` first (the real registry pings each host once and fetches Bearer
  tokens for many repositories per token request);
* a manifest is asked only for the tags ``pick`` returns, and not at all when the tag is the
  one the image already runs with a known digest (``image.tag`` and ``image.digest`` set):
  that digest is reported as is, with ``media_type`` ``""``.

Concurrency: ``limit`` images in flight (bounds memory); the registry limits requests per host.
:func:`scan_blocking` is the sync wrapper for the sync flows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from promoter import secrets
from promoter.errors import PromoterError
from promoter.refs import ImageRef
from promoter.registry import ManifestInfo, Registry, ScanResult

log = logging.getLogger(__name__)

Pick = Callable[[ImageRef, tuple[str, ...]], Iterable[str]]
"""``pick(image, tags)``: the tags whose manifests are wanted (for a digest, a build time)."""


async def scan(images: Iterable[ImageRef], registry: Registry, *, pick: Pick | None = None,
               created: bool = False, platform: str | None = None,
               limit: int = 256) -> tuple[ScanResult, ...]:
    """One :class:`ScanResult` per image, in input order. ``created``/``platform`` are passed
    to :meth:`Registry.manifest` for every picked tag."""
    todo = tuple(images)
    if not todo:
        return ()
    try:
        await registry.prepare(todo)
    except PromoterError as e:  # a hint only: the per-image calls report real failures
        log.debug("prepare failed: %s", secrets.redact(str(e)))
    gate = asyncio.Semaphore(max(1, limit))
    listings: dict[str, asyncio.Task[tuple[str, ...]]] = {}

    def tags_of(image: ImageRef) -> asyncio.Task[tuple[str, ...]]:
        task = listings.get(image.name)
        if task is None:
            task = listings[image.name] = asyncio.ensure_future(registry.list_tags(image))
        return task

    async def one(image: ImageRef) -> ScanResult:
        tags: tuple[str, ...] = ()
        manifests: dict[str, ManifestInfo] = {}
        try:
            async with gate:
                tags = await asyncio.shield(tags_of(image))
                wanted = dict.fromkeys(pick(image, tags)) if pick else {}
                for tag in wanted:
                    if (tag == image.tag and image.digest and not created
                            and platform is None):
                        manifests[tag] = ManifestInfo(digest=image.digest, media_type="")
                        continue
                    manifests[tag] = await registry.manifest(
                        image.with_tag(tag).with_digest(None), created=created,
                        platform=platform)
        except PromoterError as e:
            return ScanResult(image=image, tags=tags, manifests=manifests,
                              error=secrets.redact(str(e)),
                              retryable=e.retryable)
        except Exception as e:  # never let one image stop the others
            log.debug("scan of %s failed", image, exc_info=True)
            return ScanResult(image=image, tags=tags, manifests=manifests,
                              error=secrets.redact(f"unexpected error: {type(e).__name__}: {e}"))
        return ScanResult(image=image, tags=tags, manifests=manifests)

    return tuple(await asyncio.gather(*(one(i) for i in todo)))


def scan_blocking(images: Sequence[ImageRef], *, registry: Registry | None = None,
                  pick: Pick | None = None, created: bool = False,
                  platform: str | None = None, insecure: Iterable[str] = (),
                  ca_bundle: str | Path | None = None) -> tuple[ScanResult, ...]:
    """:func:`scan` from sync code; without ``registry`` an :class:`OciRegistry` is made (with
    ``insecure`` and ``ca_bundle``) and closed again."""
    from promoter.registry.oci import OciRegistry

    async def main() -> tuple[ScanResult, ...]:
        if registry is not None:
            return await scan(images, registry, pick=pick, created=created, platform=platform)
        async with OciRegistry(insecure=insecure, ca_bundle=ca_bundle) as reg:
            return await scan(images, reg, pick=pick, created=created, platform=platform)

    return asyncio.run(main())
