"""Tag selection against a registry: list, rank by policy, resolve the chosen tag's digest.

The requests are the fewest the strategy allows: one ``tags/list`` (every page), then one
manifest ``HEAD`` for the chosen tag's digest, skipped when the image already pins that tag's
digest (``name:tag@sha256:...``). ``newest-build`` also reads the build time (manifest and
config blob) of the tags that pass every other filter, and of those only, a few at a time; the
chosen tag's digest comes with it. A platform picks the image of an index whose build time
counts, and makes the chosen tag's check a ``GET``: the best tag that has the platform wins.
``min-age`` passes over tags whose image is younger than the policy allows.

Pure policy lives in :mod:`promoter.policy`; this module is its meeting with the
:class:`~promoter.registry.Registry` port, shared by ``promoter tags`` and the flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from promoter.errors import RegistryError
from promoter.policy import TagPolicy, candidates, survivors
from promoter.refs import ImageRef
from promoter.registry import ManifestInfo, Registry

BUILD_TIME_CONCURRENCY = 8
MIN_AGE_LOOKUPS = 10  # tags too young for min-age looked at before giving up on newer ones


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """What :func:`choose` found: the candidates best first and the chosen tag's digest."""

    image: ImageRef
    candidates: tuple[str, ...]
    chosen: str | None = None
    digest: str | None = None
    too_young: tuple[tuple[str, datetime], ...] = ()  # better tags passed over for min-age


@dataclass(frozen=True, slots=True, kw_only=True)
class TagsReport:
    """What ``promoter tags`` reports: the image asked about, the choice (None when the
    registry failed) and the errors."""

    image: ImageRef
    choice: Choice | None
    errors: tuple[str, ...] = ()


def _lacks(error: RegistryError, platform: str | None) -> bool:
    """Whether the registry refused because the image has no ``platform`` (its message names
    the platform asked for: "no linux/arm64 manifest in the index", "image is linux/amd64,
    not linux/arm64"); any other failure is an error."""
    return platform is not None and platform in str(error)


async def _build_times(registry: Registry, image: ImageRef, tags: Sequence[str],
                       platform: str | None) -> dict[str, ManifestInfo]:
    """Manifest and build time of each tag, a few at a time; tags without ``platform`` are
    left out."""
    gate = asyncio.Semaphore(BUILD_TIME_CONCURRENCY)

    async def one(tag: str) -> tuple[str, ManifestInfo | None]:
        async with gate:
            try:
                return tag, await registry.manifest(image.with_tag(tag), created=True,
                                                    platform=platform)
            except RegistryError as e:
                if _lacks(e, platform):
                    return tag, None
                raise

    return {t: i for t, i in await asyncio.gather(*(one(t) for t in tags)) if i is not None}


async def choose(registry: Registry, image: ImageRef, policy: TagPolicy, *,
                 current: str | None = None, platform: str | None = None,
                 now: datetime | None = None) -> Choice:
    """List ``image``'s tags, rank them by ``policy`` and resolve the best one's digest.

    With ``platform``, the best tag that has it is chosen; tags found without it leave the
    candidates. ``image`` names the repository; when it also holds ``current``'s tag and a
    digest, that digest is reused instead of asked for again. With the policy's ``min_age``,
    a tag whose image was built less than that before ``now`` is passed over (the current tag
    never is; an image without a build time counts as old enough), looking at no more than
    :data:`MIN_AGE_LOOKUPS` tags. Raises what the registry raises.
    """
    repo = ImageRef(image.registry, image.repository)
    tags = await registry.list_tags(repo)
    infos: Mapping[str, ManifestInfo] = {}
    created: dict[str, datetime] | None = None
    if policy.needs_created:
        infos = await _build_times(registry, repo, survivors(policy, tags, current=current),
                                   platform)
        created = {t: i.created for t, i in infos.items() if i.created is not None}
    ranked = list(candidates(policy, tags, current=current, created=created))
    young: list[tuple[str, datetime]] = []
    when = now or datetime.now(UTC)
    for tag in tuple(ranked):
        aged = policy.min_age is not None and tag != current  # its build time decides
        if aged and len(young) >= MIN_AGE_LOOKUPS:
            continue  # looked at enough: only the current tag may still be chosen
        info = infos.get(tag)
        if info is None or (aged and info.created is None):
            if not aged and tag == image.tag and image.digest and platform is None:
                return Choice(image=repo, candidates=tuple(ranked), chosen=tag,
                              digest=image.digest, too_young=tuple(young))
            try:
                info = await registry.manifest(repo.with_tag(tag), created=aged,
                                               platform=platform)
            except RegistryError as e:
                if not _lacks(e, platform):
                    raise
                ranked.remove(tag)
                continue
        if (aged and policy.min_age is not None and info.created is not None
                and when - info.created < policy.min_age):
            young.append((tag, info.created))
            continue
        return Choice(image=repo, candidates=tuple(ranked), chosen=tag, digest=info.digest,
                      too_young=tuple(young))
    return Choice(image=repo, candidates=tuple(ranked) if young else (),
                  too_young=tuple(young))
