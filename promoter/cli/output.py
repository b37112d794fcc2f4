"""``--output``: the option every command that prints a result shares, and the JSON envelope
(:func:`promoter.render.json.envelope`) it prints.

The option remembers, on the root context's object, that JSON was asked for and by which
command, so the one error handler (:func:`promoter.cli.main`) prints the envelope on stdout
even when the command ends in bad input (2) or a remote that did not answer (3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from promoter.errors import Problem
from promoter.render.json import dumps

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
    return exit_code


def console() -> Console:
    """The running command's console (``-q``/``-v`` on the group; a plain one outside it)."""
    import os
    import sys

    from promoter.console import Console

    ctx = click.get_current_context(silent=True)
    found = ctx.find_root().obj.get("console") if ctx and isinstance(
        ctx.find_root().obj, dict) else None
    return found if isinstance(found, Console) else Console.for_stream(sys.stderr, os.environ)
