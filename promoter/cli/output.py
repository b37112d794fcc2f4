"""``--output``: the option every command that prints a result shares, and the JSON envelope
(:func:`promoter.render.json.envelope`) it prints.

The option remembers, on the root context's object, that JSON was asked for and by which
command, so the one error handler (:func:`promoter.cli.main`) prints the envelope on stdout
even when the command ends in bad input (2) or a remote that did not answer (3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from promoter.errors import Problem
from promoter.render.json import dumps, problems

if TYPE_CHECKING:
    from promoter.console import Console

F = TypeVar("F", bound=Callable[..., Any])


def command_name(ctx: click.Context) -> str:
    """``plan``, ``config validate``: the command path without the program's name."""
    return " ".join(ctx.command_path.split()[1:]) or ctx.info_name or ""


def _remember(ctx: click.Context, param: click.Parameter, value: str) -> str:
    state = ctx.find_root().obj
    if isinstance(state, dict):
        state["output"] = value
        state["command"] = command_name(ctx)
    return value


def output_option(*formats: str) -> Callable[[F], F]:
    """``--output FORMAT`` (the first of ``formats`` by default), read before every other
    option so an error in those still gets its JSON."""
    return click.option("--output", type=click.Choice(list(formats)), default=formats[0],
                        show_default=True, is_eager=True, callback=_remember,
                        help="json: one object with the result, errors and schema_version.")


def print_json(result: object | None, *, exit_code: int,
               errors: Sequence[Problem] | None = None) -> int:
    """Print the envelope of ``result`` for the running command; return ``exit_code``."""
    ctx = click.get_current_context()
    click.echo(dumps(result, command=command_name(ctx), exit_code=exit_code, errors=errors))
    record(problems(result) if errors is None else errors)
    return exit_code


def record(found: Sequence[Problem], *, checked: Sequence[str] = ()) -> None:
    """Remember what the running command found (and, for ``check``, the files it checked),
    for :func:`write_reports`."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_root().obj if ctx else None
    if isinstance(state, dict):
        state.setdefault("problems", []).extend(found)
        state.setdefault("checked", []).extend(checked)
        if ctx is not None:
            state.setdefault("command", command_name(ctx))


#: environment variable -> the report written there (set by the Action and the GitLab jobs)
REPORTS = {"PROMOTER_ANNOTATIONS": "GitHub workflow-command annotations",
           "PROMOTER_CODE_QUALITY": "GitLab Code Quality JSON",
           "PROMOTER_JUNIT": "JUnit XML (check only)"}


def _relative(p: Problem, root: Path) -> Problem:
    """``p`` with its file relative to the repository ``root`` (the paths CI reports name),
    when it lies inside it."""
    if p.file is None or not Path(p.file).is_absolute():
        return p
    try:
        return dataclasses.replace(p, file=Path(p.file).resolve().relative_to(root).as_posix())
    except ValueError:
        return p


def write_reports(state: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Write what the command found as the CI reports ``environ`` names (files, replaced):
    ``PROMOTER_ANNOTATIONS`` (``::error file=,line=,col=::`` lines, for the Action to print
    outside its ``::stop-commands::`` fence), ``PROMOTER_CODE_QUALITY`` (the merge request
    widget's report) and, for ``check``, ``PROMOTER_JUNIT``."""
    from promoter.report import Finding
    from promoter.report.github import annotation_lines
    from promoter.report.gitlab import code_quality
    from promoter.report.junit import junit

    command = str(state.get("command") or "promoter")
    root = Path(environ.get("GITHUB_WORKSPACE") or environ.get("CI_PROJECT_DIR") or ".")
    findings = [Finding(problem=_relative(p, root.resolve()), check=command)
                for p in state.get("problems") or ()]
    texts: dict[str, Callable[[], str]] = {
        "PROMOTER_ANNOTATIONS": lambda: annotation_lines(findings),
        "PROMOTER_CODE_QUALITY": lambda: code_quality(findings),
        "PROMOTER_JUNIT": lambda: junit(findings, checked=state.get("checked") or (),
                                        suite=f"promoter {command}")}
    for name, render in texts.items():
        path = environ.get(name)
        if not path or (name == "PROMOTER_JUNIT" and command != "check"):
            continue
        try:
            Path(path).write_text(render(), encoding="utf-8")
        except OSError as e:
            click.echo(f"promoter: warning: {name}: cannot write {path}: {e.strerror}",
                       err=True)


def console() -> Console:
    """The running command's console (``-q``/``-v`` on the group; a plain one outside it)."""
    import os
    import sys

    from promoter.console import Console

    ctx = click.get_current_context(silent=True)
    found = ctx.find_root().obj.get("console") if ctx and isinstance(
        ctx.find_root().obj, dict) else None
    return found if isinstance(found, Console) else Console.for_stream(sys.stderr, os.environ)
