"""``promoter tags IMAGE``: a repository's tags in policy order, and the chosen one's digest.

The selection is :func:`promoter.registry.choose.choose` (the fewest requests the strategy
allows); ``--platform`` picks the image of an index whose build time counts, and the best tag
that has the platform wins.

Exit status: 0 a tag was chosen, 1 no tag matched, 2 bad input, 3 a registry that did not
answer (one line on stderr, never a secret; with ``--output json`` the JSON is printed all
the same, with the reason in ``errors``).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import click

from promoter.cli.output import output_option, print_json
from promoter.durations import parse_duration
from promoter.errors import InputError, Problem, PromoterError
from promoter.policy import STRATEGIES, Order, TagPolicy
from promoter.refs import ImageRef
from promoter.registry.choose import Choice, TagsReport, choose
from promoter.render.text import text
from promoter.secrets import redact
from promoter.versions import UpdateType

_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


def _image(ctx: click.Context, param: click.Parameter, value: str) -> ImageRef:
    try:
        return ImageRef.parse(value)
    except InputError as e:
        raise click.BadParameter(str(e)) from None


def _duration(ctx: click.Context, param: click.Parameter, value: str | None
              ) -> timedelta | None:
    """``--min-age`` in the one duration grammar (:mod:`promoter.durations`)."""
    return None if value is None else parse_duration(value, key="--min-age")


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
@output_option("text", "json")
def tags(image: ImageRef, strategy: str, semver_range: str | None, prerelease: bool,
         allow: str | None, ignore: tuple[str, ...], order: str, current: str | None,
         max_update: str | None, platform: str | None, insecure: tuple[str, ...],
         min_age: timedelta | None, output: str) -> int:
    """List IMAGE's tags that the policy accepts, best first, and the chosen one's digest.

    Credentials come from docker's config.json (DOCKER_CONFIG or ~/.docker) and the
    environment. Exit 0 when a tag was chosen, 1 when none matched, 2 on bad input, 3 when the
    registry could not answer.
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
        print_json(TagsReport(image=image, choice=None), exit_code=e.exit_code,
                   errors=e.problems)
        click.echo(f"promoter: error: {redact(str(e))}", err=True)
        return e.exit_code
    report = TagsReport(image=image, choice=choice)
    none = f"no tag of {image.name} matches the policy"
    code = 1 if choice.chosen is None else 0
    if output == "json":
        print_json(report, exit_code=code, errors=(Problem(message=none, image=image.name),)
                   if code else ())
    else:
        click.echo(text(report), nl=False)
    if code:
        click.echo(f"promoter: {none}", err=True)
    return code
