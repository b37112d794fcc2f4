"""The ``promoter`` command line.

Each subcommand lives in its own module under :mod:`promoter.cli` and is imported only when it
runs, so ``promoter --help`` stays fast and one command's dependencies never slow another.
Errors from :mod:`promoter.errors` are printed as one redacted line and mapped to their exit code.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from promoter import __version__, logs
from promoter.errors import BAD_INPUT, INTERNAL, RETRY, Problem, PromoterError
from promoter.secrets import redact

# name -> "module:attribute"; one line per command, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "find-images": "promoter.cli.edit_cmds:find_images",
    "set-image": "promoter.cli.edit_cmds:set_image",
    "tags": "promoter.cli.tags_cmd:tags",
    "schema": "promoter.cli.config_cmds:schema",
    "plan": "promoter.cli.poll_cmds:plan_cmd",
    "poll": "promoter.cli.poll_cmds:poll_cmd",
    "promote": "promoter.cli.promote_cmd:promote_cmd",
    "demo": "promoter.cli.demo_cmd:demo",
    "config": "promoter.cli.config_cmds:config",
    "comment": "promoter.cli.comment_cmd:comment",
    "serve": "promoter.cli.serve_cmd:serve",
    "worker": "promoter.cli.worker_cmd:worker",
    "check": "promoter.cli.check_cmd:check",
    "rollback": "promoter.cli.rollback_cmd:rollback",
    "status": "promoter.cli.status_cmd:status",
    "dashboard": "promoter.cli.dashboard_cmd:dashboard_cmd",
    "watch": "promoter.cli.watch_cmd:watch_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promoter")
@click.option("--debug", is_flag=True, help="Log debug messages and show tracebacks.")
@click.option("-q", "--quiet", count=True, help="Errors and warnings only: no progress, no notes.")
@click.option("-v", "--verbose", count=True, help="More detail (-vv: debug messages).")
@click.option("--log-format", type=click.Choice(logs.FORMATS), default="text",
              envvar=logs.ENV, show_default=True, help="Log lines as text or JSON objects.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: int, verbose: int, log_format: str) -> None:
    """promoter: watch registries, edit GitOps files byte-exactly, open promotion PRs.

    Exit codes, for every command: 0 done, 1 problems found, 2 bad input, 3 retry later (a
    registry, the forge or the network did not answer), 4 internal error.
    """
    from promoter.console import Console, Verbosity

    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    verbosity = Verbosity.DEBUG if debug else Verbosity.from_flags(quiet=quiet, verbose=verbose)
    ctx.obj["console"] = Console.for_stream(sys.stderr, os.environ, verbosity=verbosity)
    logs.setup(level={Verbosity.DEBUG: logging.DEBUG, Verbosity.VERBOSE: logging.INFO,
                      Verbosity.QUIET: logging.ERROR}.get(verbosity, logging.WARNING),
               fmt=log_format)


def _wants_json(args: Sequence[str]) -> bool:
    """Whether ``--output json`` is among ``args`` (for a usage error click raised before the
    option itself was read)."""
    return any(a == "--output=json" or (a == "--output" and nxt == "json")
               for a, nxt in zip(args, [*args[1:], ""], strict=True))


def _envelope(state: dict[str, Any], args: Sequence[str], code: int,
              problems: Sequence[Problem]) -> None:
    """The JSON envelope of a command that ended in an error, when JSON was asked for."""
    command = state.get("command") or next((a for a in args if not a.startswith("-")), "")
    state.setdefault("command", command)
    state.setdefault("problems", []).extend(problems)
    if state.get("output", "json" if _wants_json(args) else None) != "json":
        return
    from promoter.render.json import dumps  # here: --help stays fast

    click.echo(dumps(None, command=command, exit_code=code, errors=problems))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the one-error-handler of errors.py). The problems
    found are also written as the CI reports the environment asks for
    (:func:`promoter.cli.output.write_reports`)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    state: dict[str, Any] = {}
    code = _main(args, state)
    if state.get("problems") is not None or state.get("command"):
        from promoter.cli.output import write_reports

        write_reports(state, os.environ)
    return code


def _main(args: list[str], state: dict[str, Any]) -> int:
    debug = "--debug" in args
    try:
        result: Any = cli.main(args=args, prog_name="promoter", standalone_mode=False,
                               obj=state)
    except PromoterError as e:
        _envelope(state, args, e.exit_code, e.problems)
        click.echo(f"promoter: error: {redact(str(e))}", err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        _envelope(state, args, e.exit_code, (Problem(message=redact(e.format_message())),))
        e.show()
        return e.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # a path given that is missing, not a folder, not writable...
        if debug:
            _traceback()
        code, message = os_error(e)
        _envelope(state, args, code, (Problem(message=message, retryable=code == RETRY),))
        click.echo(f"promoter: error: {message}", err=True)
        return code
    except Exception as e:  # the last resort: one line, no secrets, traceback only on --debug
        if debug:
            _traceback()
        message = f"unexpected error: {redact(type(e).__name__ + ': ' + str(e))}"
        _envelope(state, args, INTERNAL, (Problem(message=message),))
        click.echo(f"promoter: {message} (a bug: please report it, with --debug's traceback)",
                   err=True)
        return INTERNAL
    return result if isinstance(result, int) else 0


def _traceback() -> None:
    import traceback

    click.echo(redact(traceback.format_exc()), err=True)


_OS_HINTS = {
    errno.ENOENT: "no such file or directory (does the folder exist?)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, a file was expected",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.EEXIST: "already exists",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system",
}


def os_error(e: OSError) -> tuple[int, str]:
    """The exit code and one line for an operating-system error no command turned into a
    PromoterError: bad input (2) naming the path, or retry later (3) for the network."""
    if isinstance(e, ConnectionError | TimeoutError):
        return RETRY, f"network: {redact(e.strerror or str(e) or type(e).__name__)}"
    what = _OS_HINTS.get(e.errno or 0) or (e.strerror or str(e) or "cannot be used").lower()
    paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
    where = " -> ".join(paths) if paths else "a file or folder"
    return BAD_INPUT, redact(f"{where}: {what}")
