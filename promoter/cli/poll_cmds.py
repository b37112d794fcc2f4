"""``promoter plan`` and ``promoter poll``, and the ``--shard`` option ``promote`` shares.

(:func:`repo_options` and :func:`session` are :mod:`promoter.cli.repo`'s, named here too for
the commands that import them from this module.)
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.cli.fleet import (
    FleetRun,
    Resolved,
    fleet_options,
    member_session,
    only_known,
    print_fleet,
    resolve,
    single,
)
from promoter.cli.output import console, output_option, print_json
from promoter.cli.repo import repo_options as repo_options  # serve_cmd imports it from here
from promoter.cli.repo import session as session
from promoter.config import Config, Group
from promoter.errors import InputError
from promoter.fleet import Member
from promoter.flows import dashboard
from promoter.flows.fleet import FleetReport
from promoter.flows.poll import Report, make_plan, poll
from promoter.gitrepo import GitWorkspace
from promoter.plan import Plan
from promoter.registry import Registry
from promoter.render.markdown import markdown
from promoter.render.text import text

F = TypeVar("F", bound=Callable[..., Any])


def _parse_shard(ctx: click.Context | None, param: click.Parameter | None,
                 value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if m is None or not 1 <= int(m[1]) <= int(m[2]):
        raise click.BadParameter(f"{value!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(m[1]), int(m[2])


def shard_option(f: F) -> F:
    """``--shard I/N`` (1-based): only the images of shard I of N, see :func:`apply_shard`."""
    return click.option(
        "--shard", "shard", default=None, metavar="I/N", envvar="PROMOTER_SHARD",
        callback=_parse_shard,
        help="Only shard I of N (1-based) of the images, split by a stable hash of their "
             "names, so N parallel jobs never touch one image.")(f)


def apply_shard(cfg: Config, shard: tuple[int, int] | None) -> Config:
    """``cfg`` with only the images of ``shard`` (I, N), 1-based; ``cfg`` itself for None.

    Pull requests grouped by environment would make two shards write one branch, so sharding
    (N > 1) needs ``pull-requests.group: image``.
    """
    if shard is None:
        return cfg
    index, count = shard
    if count > 1 and cfg.pull_requests.group is not Group.IMAGE:
        raise InputError(f"{cfg.path}: --shard {index}/{count} needs pull-requests.group: "
                         f"image (shards would share the {cfg.pull_requests.group.value} "
                         "branches)")
    return dataclasses.replace(cfg, images=cfg.shard(index - 1, count))


def common(f: F) -> F:
    for opt in reversed([
        click.option("--env", "envs", multiple=True,
                     help="Only these environments (default: those tracking the registry)."),
        click.option("--image", "images", multiple=True, help="Only these images (config names)."),
    ]):
        f = opt(f)
    return shard_option(fleet_options(f))


def _run_plan(repo: str | None, clone: str | None, config: str | None, envs: tuple[str, ...],
              images: tuple[str, ...], *, dry_run: bool, do_poll: bool,
              shard: tuple[int, int] | None = None) -> Report:
    with session(repo, clone, config, forge_token=do_poll and not dry_run) as (cfg, ws):
        for name in images:
            cfg.image(name)  # an unknown --image is bad input (in any shard)
        for name in envs:
            cfg.environment(name)
        reg = wiring.registry(cfg, os.environ)  # entered by the flow, in its event loop
        return _plan_or_poll(cfg, ws, reg, envs, images, dry_run=dry_run, do_poll=do_poll,
                             shard=shard)


def _plan_or_poll(cfg: Config, ws: GitWorkspace, reg: Registry, envs: tuple[str, ...],
                  images: tuple[str, ...], *, dry_run: bool, do_poll: bool,
                  shard: tuple[int, int] | None) -> Report:
    cfg = apply_shard(cfg, shard)
    if do_poll:
        forge = None if dry_run else wiring.forge(cfg, os.environ)
        report = poll(cfg, ws, reg, forge, dry_run=dry_run, envs=envs or None,
                      images=images or None, progress=console().progress)
        if not dry_run:
            dashboard.refresh(cfg, forge, report)
        return report
    ws.fetch()
    plan, errors, _ = make_plan(cfg, ws, reg, envs=envs or None, images=images or None,
                                progress=console().progress)
    return Report(plan=plan, errors=errors)


def fleet_plan(found: Resolved, envs: tuple[str, ...], images: tuple[str, ...], *, dry_run: bool,
               do_poll: bool, shard: tuple[int, int] | None, parallel: int,
               run: FleetRun | None = None) -> FleetReport[Report]:
    """``plan``/``poll`` on every repository of ``found``, the registry read once per image
    for all of them; ``--image``/``--env`` apply where a repository has them."""
    run = FleetRun() if run is None else run

    def one(member: Member) -> Report:
        with member_session(member, forge_token=do_poll and not dry_run) as (cfg, ws):
            mine = only_known(images, cfg.image), only_known(envs, cfg.environment)
            if (images and not mine[0]) or (envs and not mine[1]):
                return Report(plan=Plan(pull_requests=()))  # it has none of those asked for
            return _plan_or_poll(cfg, ws, run.registry(cfg), mine[1], mine[0],
                                 dry_run=dry_run, do_poll=do_poll, shard=shard)

    return run.run(found, one, parallel=parallel)


def _print(report: Report, output: str, *, results: bool) -> int:
    """``plan`` prints the plan alone (its JSON is the plan's); ``poll`` adds the results."""
    shown: object = report if results else report.plan
    if output == "json":
        print_json(shown, exit_code=report.exit_code, errors=report.problems)
    elif output == "markdown":
        click.echo(markdown(shown), nl=False)
    else:
        click.echo(text(shown), nl=False)
    for e in report.errors:
        click.echo(f"promoter: {e}", err=True)
    return report.exit_code


@click.command("plan")
@common
@output_option("text", "json", "markdown")
def plan_cmd(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
             fleet: str | None, parallel: int, envs: tuple[str, ...], images: tuple[str, ...],
             shard: tuple[int, int] | None, output: str) -> int:
    """Show what the next poll would change, with unified diffs; writes nothing."""
    return _command(repo, clone, config, fleet, parallel, envs, images, shard, output,
                    dry_run=True, do_poll=False)


def _command(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
             fleet: str | None, parallel: int, envs: tuple[str, ...], images: tuple[str, ...],
             shard: tuple[int, int] | None, output: str, *, dry_run: bool,
             do_poll: bool) -> int:
    """``plan`` or ``poll`` on one repository, or on the fleet the options name."""
    found = resolve(repo, clone, config, fleet)
    if found is not None:
        return print_fleet(fleet_plan(found, envs, images, dry_run=dry_run, do_poll=do_poll,
                                      shard=shard, parallel=parallel), output)
    report = _run_plan(*single(repo, clone), config, envs, images, dry_run=dry_run,
                       do_poll=do_poll, shard=shard)
    return _print(report, output, results=do_poll)


@click.command("poll")
@common
@click.option("--dry-run", is_flag=True, help="Plan only: push nothing, open nothing.")
@output_option("text", "json", "markdown")
def poll_cmd(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
             fleet: str | None, parallel: int, envs: tuple[str, ...], images: tuple[str, ...],
             shard: tuple[int, int] | None, dry_run: bool, output: str) -> int:
    """Pick the best tag for each image, edit the targets, open or update the pull requests.

    With --fleet, or --repo/--clone more than once, every repository is polled (its own
    .promoter.yaml, its own pull requests) and each image is read from its registry once for
    all of them; one repository's failure never stops the others.
    """
    return _command(repo, clone, config, fleet, parallel, envs, images, shard, output,
                    dry_run=dry_run, do_poll=True)
