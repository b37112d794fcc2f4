"""``promoter promote``: open or update the gated promotion pull requests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from promoter import wiring
from promoter.cli.fleet import (
    FleetRun,
    Resolved,
    fleet_options,
    member_session,
    print_fleet,
    resolve,
    single,
)
from promoter.cli.output import console, output_option, print_json
from promoter.cli.poll_cmds import apply_shard, shard_option
from promoter.cli.repo import session
from promoter.config import Config
from promoter.errors import InputError
from promoter.fleet import Member
from promoter.flows import dashboard
from promoter.flows.fleet import FleetReport
from promoter.flows.promote import Report, promote
from promoter.gitrepo import GitWorkspace
from promoter.render.text import text


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now: {text!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command("promote")
@click.option("--from", "source", default=None, metavar="ENV",
              help="Only the step out of this environment.")
@click.option("--to", "target", default=None, metavar="ENV",
              help="Only the step into this environment (from the one before it).")
@click.option("--image", "images", multiple=True, help="Only these images (config names).")
@click.option("--dry-run", is_flag=True, help="Evaluate and plan only: push, open, post nothing.")
@fleet_options
@shard_option
@output_option("text", "json")
@click.option("--now", "now", default=None, hidden=True,
              help="Evaluate the gates at this ISO 8601 time instead of the clock's.")
def promote_cmd(source: str | None, target: str | None, images: tuple[str, ...], dry_run: bool,
                repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
                fleet: str | None, parallel: int, shard: tuple[int, int] | None, output: str,
                now: str | None) -> int:
    """Promote what each environment runs into the next one, through gated pull requests.

    Without --from/--to every step of the environment order is walked. A target gets exactly
    its source's tag and digest, never a version ahead of it; the gates of the target
    environment (soak, require-checks, auto, min-approvals, freeze, hold) and the source's
    health (statuses, its Argo CD Application) are shown in the pull request and posted as its
    `promoter/gates` status. No pull request opens while the source's Argo CD Application is
    not Synced to its branch head and Healthy.

    With --fleet, or --repo/--clone more than once, every repository is promoted in turn (its
    own config; --from/--to/--image apply where it has them).
    """
    when = _now(now)
    found = resolve(repo, clone, config, fleet)
    if found is not None:
        return print_fleet(fleet_promote(found, source, target, images, dry_run=dry_run,
                                         shard=shard, now=when, parallel=parallel), output)
    with session(*single(repo, clone), config) as (cfg, ws):
        report = _promote(cfg, ws, source, target, images, dry_run=dry_run, shard=shard,
                          now=when)
    if output == "json":
        print_json(report, exit_code=report.exit_code)
    else:
        click.echo(text(report), nl=False)
    for e in report.errors:
        click.echo(f"promoter: {e}", err=True)
    return report.exit_code



def _promote(cfg: Config, ws: GitWorkspace, source: str | None, target: str | None,
             images: tuple[str, ...], *, dry_run: bool, shard: tuple[int, int] | None,
             now: datetime) -> Report:
    cfg = apply_shard(cfg, shard)
    try:  # a dry run reads the forge (checks, hold labels) when it can
        forge = wiring.forge(cfg, os.environ)
    except InputError:
        if not dry_run:
            raise
        forge = None
    report = promote(cfg, ws, forge, source=source, target=target, images=images or None,
                     dry_run=dry_run, now=now,
                     signatures=wiring.signature_checks(cfg, ws, os.environ, now=now),
                     argocd=wiring.argocd(cfg, os.environ), progress=console().progress)
    if not dry_run:
        dashboard.refresh(cfg, forge, report)
    return report


def fleet_promote(found: Resolved, source: str | None, target: str | None,
                  images: tuple[str, ...], *, dry_run: bool, shard: tuple[int, int] | None,
                  now: datetime, parallel: int) -> FleetReport[Report]:
    """``promote`` on every repository of ``found``; a repository without the environments
    ``--from``/``--to`` name, or any of the ``--image`` ones, has nothing to do."""
    def one(member: Member) -> Report:
        with member_session(member) as (cfg, ws):
            names = {e.name for e in cfg.environments}
            mine = tuple(i for i in images if any(x.name == i for x in cfg.images))
            if ({source, target} - {None}) - names or (images and not mine):
                return Report(steps=())
            return _promote(cfg, ws, source, target, mine, dry_run=dry_run, shard=shard,
                            now=now)

    return FleetRun().run(found, one, parallel=parallel)
