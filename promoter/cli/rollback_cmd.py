"""``promoter rollback ENV``: a pull request restoring the previous version (from the
environment's git history) or the one named with ``--to``; exit 0 done (without ``--image``:
every image that ran an earlier version is rolled back, those that did not are named), 1 when
an image could not be rolled back, 2 on bad input, 3 when the forge did not answer."""

from __future__ import annotations

import os

import click

from promoter import wiring
from promoter.cli.output import output_option, print_json
from promoter.cli.repo import checkout_options, open_repo
from promoter.flows.rollback import rollback as run_rollback
from promoter.render.text import text


@click.command("rollback")
@click.argument("env")
@checkout_options
@click.option("--image", "image", default=None, help="Only this image (config name).")
@click.option("--to", "to", default=None, metavar="VERSION",
              help="The version to go back to (default: the one the environment ran before).")
@click.option("--reason", "reason", default="", help="Why; goes into the pull request body.")
@click.option("--dry-run", is_flag=True, help="Show the change; push nothing, open nothing.")
@output_option("text", "json")
def rollback(env: str, repo: str | None, config: str | None, image: str | None,
             to: str | None, reason: str, dry_run: bool, output: str) -> int:
    """Open a pull request that puts ENV back on the version it ran before (labelled
    promoter/rollback, exempt from the order rule, the reason in the body)."""
    with open_repo(repo, config) as (cfg, ws):
        forge = None if dry_run else wiring.forge(cfg, os.environ)
        report = run_rollback(cfg, ws, forge, env=env, image=image, to=to, reason=reason,
                              dry_run=dry_run,
                              registry=wiring.registry(cfg, os.environ) if to else None)
    if output == "json":
        return print_json(report, exit_code=report.exit_code)
    else:
        click.echo(text(report), nl=False)
    return report.exit_code
