"""``promoter comment``: run the commands of one pull request comment.

GitHub Actions (``on: issue_comment``) hands over the event file::

    promoter comment --event "$GITHUB_EVENT_PATH"

GitLab has no comment-triggered pipelines; ``promoter serve`` or a pipeline triggered by it
names the note::

    promoter comment --forge gitlab --project grp/gitops --mr 12 --note-id 345
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from promoter import wiring
from promoter.cli.output import output_option, print_json
from promoter.cli.repo import repo_options, session
from promoter.config import Config, ForgeType
from promoter.errors import ForgeError, InputError, Problem
from promoter.flows.comment import (
    CommentEvent,
    Outcome,
    Ports,
    Report,
    github_event,
    handle,
)
from promoter.forge import Forge
from promoter.gitrepo import Workspace

log = logging.getLogger(__name__)


def member_check(forge: Forge) -> Callable[[str, str], bool]:
    """``member_of`` for the comment flow: the forge's answer, and "no" (the command is refused,
    politely) when the forge cannot say, e.g. a token that may not read the organization."""
    def member_of(user: str, team_or_group: str) -> bool:
        try:
            return forge.member_of(user, team_or_group)
        except ForgeError as e:
            log.warning("cannot check whether %s is in %s, so not admitted: %s", user,
                        team_or_group, e)
            return False

    return member_of


def read_event_payload(path: str) -> Any:
    """The JSON of a GitHub Actions event file; InputError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the event file: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON: {e}") from None


def read_event_file(path: str) -> CommentEvent:
    """The comment in a GitHub ``issue_comment`` event file; InputError naming the file."""
    return github_event(read_event_payload(path), what=path)


def repository_of(cfg: Config) -> str:
    return (cfg.forge.repository if cfg.forge.type is ForgeType.GITHUB
            else cfg.forge.project) or ""


def command_ports(cfg: Config, ws: Workspace, forge: Forge) -> Ports:
    """What comment commands (and the dashboard's boxes) may use: the real registry, this
    checkout and the forge's teams and groups."""
    @contextlib.contextmanager
    def opener() -> Iterator[Workspace]:
        yield ws

    return Ports(forge=forge, workspace=opener,
                 registry=lambda: wiring.registry(cfg, os.environ),
                 member_of=member_check(forge), argocd=wiring.argocd(cfg, os.environ))


def run_comment(cfg: Config, ws: Workspace, forge: Forge, event: CommentEvent) -> Report:
    """One comment (``promoter serve`` runs comments through here too)."""
    return handle(event, cfg, command_ports(cfg, ws, forge))


@click.command("comment")
@click.option("--event", "event_path", envvar="GITHUB_EVENT_PATH", default=None,
              metavar="FILE", help="A GitHub issue_comment event file (default: "
                                   "$GITHUB_EVENT_PATH).")
@click.option("--forge", "forge_kind", type=click.Choice(["github", "gitlab"]), default=None,
              help="Read the comment from the forge instead of an event file (gitlab).")
@click.option("--project", default=None, help="GitLab project path or id (with --forge gitlab).")
@click.option("--mr", type=int, default=None, help="The merge request iid (with --forge gitlab).")
@click.option("--note-id", type=int, default=None, help="The note id (with --forge gitlab).")
@repo_options
@output_option("text", "json")
def comment(event_path: str | None, forge_kind: str | None, project: str | None,
            mr: int | None, note_id: int | None, repo: str | None, clone: str | None,
            config: str | None, output: str) -> int:
    """Run the /promoter commands of one pull request comment and answer it."""
    gitlab = forge_kind == "gitlab"
    if gitlab and (mr is None or note_id is None):
        raise InputError("--forge gitlab needs --mr and --note-id")
    if not gitlab and event_path is None:
        raise InputError("--event FILE (or $GITHUB_EVENT_PATH) is required")
    event = None if gitlab else read_event_file(str(event_path))
    with session(repo, clone, config) as (cfg, ws):
        if gitlab and cfg.forge.type is not ForgeType.GITLAB:
            raise InputError(f"--forge gitlab, but {cfg.path} configures {cfg.forge.type.value}")
        if project and project != repository_of(cfg):
            raise InputError(f"--project {project}: {cfg.path} configures "
                             f"{repository_of(cfg) or 'no project'}")
        forge = wiring.forge(cfg, os.environ)
        if forge is None:
            raise InputError(f"{cfg.path}: comment commands need a github or gitlab forge")
        if event is None:
            assert mr is not None and note_id is not None
            note = forge.get_comment(mr, note_id)
            event = CommentEvent(number=mr, comment_id=note.id, author=note.author,
                                 body=note.body, system=note.system)
        report = run_comment(cfg, ws, forge, event)
    code = 1 if report.outcome is Outcome.FAILED else 0
    if output == "json":
        return print_json(report, exit_code=code, errors=(
            (Problem(message=report.reason or "failed"),) if code else ()))
    click.echo(f"{report.outcome.value}{': ' + report.reason if report.reason else ''}")
    for a in report.answers:
        click.echo(f"- {a.result.value}: {a.text.splitlines()[0] if a.text else ''}")
    return code
