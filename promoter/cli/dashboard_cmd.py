"""``promoter dashboard``: bring the dashboard issue up to date now, or act on a ticked box.

Pending and held rows come from promoter's open pull requests; blocked rows from the promote
flow evaluated as a dry run (nothing is pushed or posted); the waiting and failed rows of the
last ``poll`` / ``promote`` stay as they are.

With ``--event FILE`` (a GitHub ``issues`` event, e.g. ``$GITHUB_EVENT_PATH`` in a workflow
``on: issues: {types: [edited]}``) the boxes ticked in that edit run instead, exactly as
``promoter serve`` runs them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from promoter import wiring
from promoter.cli.comment_cmd import command_ports, read_event_payload
from promoter.cli.output import output_option, print_json
from promoter.cli.repo import repo_options, session
from promoter.dashboard import State
from promoter.errors import InputError
from promoter.flows import dashboard
from promoter.flows.promote import promote
from promoter.webhooks import IssueEdit, github_issue_edit


def _read_edit(path: str) -> IssueEdit | None:
    payload = read_event_payload(path)
    if not isinstance(payload, dict):
        raise InputError(f"{path}: not an issues event")
    return github_issue_edit(payload, what=path)


@click.command("dashboard")
@click.option("--event", "event_path", default=None, metavar="FILE",
              help="A GitHub issues event file: run the boxes its edit ticked.")
@repo_options
@output_option("text", "json")
def dashboard_cmd(event_path: str | None, repo: str | None, clone: str | None,
                  config: str | None, output: str) -> int:
    """Create or update the dashboard issue (needs `dashboard: true` and a forge)."""
    edit = _read_edit(event_path) if event_path else None
    with session(repo, clone, config) as (cfg, ws):
        if not cfg.dashboard.enabled:
            raise InputError(f"{cfg.path}: dashboard is off; set `dashboard: true`")
        forge = wiring.forge(cfg, os.environ)
        if forge is None:
            raise InputError(f"{cfg.path}: the dashboard needs a forge (forge.type github or "
                             "gitlab)")
        if event_path:
            if edit is None:
                click.echo("ignored: not an edit of an issue body")
                return 0
            edited = dashboard.on_edit(edit, cfg, command_ports(cfg, ws, forge))
            click.echo(f"{edited.outcome}{': ' + edited.reason if edited.reason else ''}")
            for a in edited.answers:
                first = a.text.strip().splitlines()[0] if a.text.strip() else ""
                click.echo(f"- {a.result.value}: {first}")
            return 0
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
