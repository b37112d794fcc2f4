"""``promoter dashboard``: bring the dashboard issue up to date now.

Pending and held rows come from promoter's open pull requests; blocked rows from the promote
flow evaluated as a dry run (nothing is pushed or posted); the waiting and failed rows of the
last ``poll`` / ``promote`` stay as they are.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from promoter import wiring
from promoter.cli.output import output_option, print_json
from promoter.cli.repo import repo_options, session
from promoter.dashboard import State
from promoter.errors import InputError
from promoter.flows import dashboard
from promoter.flows.promote import promote


@click.command("dashboard")
@repo_options
@output_option("text", "json")
def dashboard_cmd(repo: str | None, clone: str | None, config: str | None, output: str) -> int:
    """Create or update the dashboard issue (needs `dashboard: true` and a forge)."""
    with session(repo, clone, config) as (cfg, ws):
        if not cfg.dashboard.enabled:
            raise InputError(f"{cfg.path}: dashboard is off; set `dashboard: true`")
        forge = wiring.forge(cfg, os.environ)
        if forge is None:
            raise InputError(f"{cfg.path}: the dashboard needs a forge (forge.type github or "
                             "gitlab)")
        when = datetime.now(UTC)
        blocked = promote(cfg, ws, forge, dry_run=True, now=when,
                          signatures=wiring.signature_checks(cfg, ws, os.environ, now=when))
        done = dashboard.update(cfg, forge, blocked, carry=(State.WAITING, State.FAILED))
    if output == "json":
        print_json(done, exit_code=0)
    else:
        where = f" #{done.number} {done.url}" if done.number else ""
        click.echo(f"dashboard: {done.outcome}{where}")
    return 0
