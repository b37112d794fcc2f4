"""``promoter tags IMAGE``: a repository's tags in policy order, and the chosen one's digest.

The requests are the fewest the strategy allows: one ``tags/list`` (every page), then one
manifest ``HEAD`` for the chosen tag's digest, skipped when IMAGE already pins that tag's
digest (``name:tag@sha256:...``). ``newest-build`` also reads the build time (manifest and
config blob) of the tags that pass every other filter, and of those only, a few at a time; the
chosen tag's digest comes with it. ``--platform`` picks the image of an index whose build time
counts, and makes the chosen tag's check a ``GET``: the best tag that has the platform wins.

Exit status: 0 a tag was chosen, 1 no tag matched, 2 an input or registry error (one line on
stderr, never a secret; with ``--output json`` the JSON is printed all the same, with the
reason in ``errors``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click

from promoter.errors import InputError, PromoterError, RegistryError
from promoter.policy import STRATEGIES, Order, TagPolicy, candidates, survivors
from promoter.refs import ImageRef
from promoter.registry import ManifestInfo, Registry
from promoter.secrets import redact
from promoter.versions import UpdateType

BUILD_TIME_CONCURRENCY = 8
MIN_AGE_LOOKUPS = 10  # tags too young for min-age looked at before giving up on newer ones
_DURATION = re.compile(r"^(?:[0-9]+[smhdw])+$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """What :func:`choose` found: the candidates best first and the chosen tag's digest."""

    image: ImageRef
    candidates: tuple[str, ...]
    chosen: str | None = None
    digest: str | None = None
    too_young: tuple[tuple[str, datetime], ...] = ()  # better tags passed over for min-age


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


def _as_json(image: ImageRef, choice: Choice | None, errors: Sequence[str]) -> str:
    chosen = None
    if choice is not None and choice.chosen is not None:
        chosen = {"tag": choice.chosen, "digest": choice.digest}
    return json.dumps({"image": image.name, "chosen": chosen,
                       "candidates": list(choice.candidates) if choice else [],
                       "errors": list(errors),
                       "too_young": [{"tag": t, "created": c.isoformat()}
                                     for t, c in (choice.too_young if choice else ())]},
                      indent=2)


def _print_text(choice: Choice) -> None:
    for tag in choice.candidates:
        if tag == choice.chosen:
            click.echo(f"{tag}\t{choice.digest}\tchosen")
        else:
            click.echo(tag)


def _image(ctx: click.Context, param: click.Parameter, value: str) -> ImageRef:
    try:
        return ImageRef.parse(value)
    except InputError as e:
        raise click.BadParameter(str(e)) from None


def _duration(ctx: click.Context, param: click.Parameter, value: str | None
              ) -> timedelta | None:
    if value is None:
        return None
    if not _DURATION.match(value):
        raise click.BadParameter(f"{value!r} is not a duration such as 3d, 12h or 1d12h")
    from promoter.config import parse_duration

    return parse_duration(value)


def _platform(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _PLATFORM.match(value):
        raise click.BadParameter(f"{value!r} is not OS/ARCH[/VARIANT] (linux/arm64)")
    return value


@click.command()
@click.argument("image", callback=_image)
@click.option("--strategy", type=click.Choice(list(STRATEGIES)), default="semver",
              show_default=True, help="How tags are ranked.")
@click.option("--semver", "semver_range", metavar="RANGE",
              help="Versions to consider, npm/Helm notation: ^1.2, ~1.2.3, '>=1.0 <2.0', 1.x.")
@click.option("--prerelease", is_flag=True, help="Consider prereleases (1.2.0-rc.1) too.")
@click.option("--allow", metavar="REGEX",
              help="Only tags this regex finds; its (?P<version>...) group is compared.")
@click.option("--ignore", multiple=True, metavar="PATTERN",
              help="Skip tags matching this glob, or /regex/. Repeatable.")
@click.option("--order", type=click.Choice([o.value for o in Order]), default="asc",
              show_default=True, help="alphabetical/numerical: asc picks the greatest.")
@click.option("--current", metavar="TAG",
              help="The tag in use now (default: IMAGE's tag): sets the variant family, the v "
                   "prefix style and the base of --max-update; nothing below it is proposed.")
@click.option("--max-update", type=click.Choice(["patch", "minor", "major"]),
              help="The largest update to accept from --current.")
@click.option("--platform", metavar="OS/ARCH", callback=_platform,
              help="The platform of a multi-arch image that must exist (and whose build time "
                   "counts for newest-build).")
@click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST",
              help="Talk plain HTTP to this registry host. Repeatable.")
@click.option("--min-age", metavar="DURATION", callback=_duration,
              help="Pass over tags whose image was built less than this ago (3d, 12h).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def tags(image: ImageRef, strategy: str, semver_range: str | None, prerelease: bool,
         allow: str | None, ignore: tuple[str, ...], order: str, current: str | None,
         max_update: str | None, platform: str | None, insecure: tuple[str, ...],
         min_age: timedelta | None, output: str) -> int:
    """List IMAGE's tags that the policy accepts, best first, and the chosen one's digest.

    Credentials come from docker's config.json (DOCKER_CONFIG or ~/.docker) and the
    environment. Exit 0 when a tag was chosen, 1 when none matched, 2 on an input or registry
    error.
    """
    from promoter.registry.oci import OciRegistry

    async def run() -> Choice:
        policy = TagPolicy(strategy=strategy, range=semver_range, allow=allow, ignore=ignore,
                           prerelease=prerelease, order=Order(order),
                           max_update=UpdateType(max_update) if max_update else None,
                           min_age=min_age)
        async with OciRegistry(insecure=insecure) as registry:
            return await choose(registry, image, policy, current=current or image.tag,
                                platform=platform)

    try:
        choice = asyncio.run(run())
    except PromoterError as e:
        if output != "json":
            raise
        click.echo(_as_json(image, None, [redact(str(e))]))
        click.echo(f"promoter: error: {redact(str(e))}", err=True)
        return e.exit_code
    if output == "json":
        click.echo(_as_json(image, choice, []))
    else:
        _print_text(choice)
    if choice.chosen is None:
        click.echo(f"promoter: no tag of {image.name} matches the policy", err=True)
        return 1
    return 0
