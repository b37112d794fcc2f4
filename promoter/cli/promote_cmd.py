"""``promoter promote``: open or update the gated promotion pull requests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from promoter import wiring
from promoter.cli.output import console, output_option, print_json
from promoter.cli.poll_cmds import apply_shard, shard_option
from promoter.cli.repo import repo_options, session
from promoter.errors import InputError
from promoter.flows import dashboard
from promoter.flows.promote import promote
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
@repo_options
@shard_option
@output_option("text", "json")
@click.option("--now", "now", default=None, hidden=True,
              help="Evaluate the gates at this ISO 8601 time instead of the clock's.")
def promote_cmd(source: str | None, target: str | None, images: tuple[str, ...], dry_run: bool,
                repo: str | None, clone: str | None, config: str | None,
                shard: tuple[int, int] | None, output: str, now: str | None) -> int:
    """Promote what each environment runs into the next one, through gated pull requests.

    Without --from/--to every step of the environment order is walked. A target gets exactly
    its source's tag and digest, never a version ahead of it; the gates of the target
    environment (soak, require-checks, auto, min-approvals, freeze, hold) are shown in the pull
    request and posted as its `promoter/gates` status.
    """
    when = _now(now)
    with session(repo, clone, config) as (cfg, ws):
        cfg = apply_shard(cfg, shard)
        try:  # a dry run reads the forge (checks, hold labels) when it can
            forge = wiring.forge(cfg, os.environ)
        except InputError:
            if not dry_run:
                raise
            forge = None
        report = promote(cfg, ws, forge, source=source, target=target,
                         images=images or None, dry_run=dry_run, now=when,
                         signatures=wiring.signature_checks(cfg, ws, os.environ, now=when),
                         progress=console().progress)
        if not dry_run:
            dashboard.refresh(cfg, forge, report)
    if output == "json":
        print_json(report, exit_code=report.exit_code)
    else:
        click.echo(text(report), nl=False)
    for e in report.errors:
        click.echo(f"promoter: {e}", err=True)
    return report.exit_code

