"""The ``promoter`` command line.

Each subcommand lives in its own module under :mod:`promoter.cli` and is imported only when it
runs, so ``promoter --help`` stays fast and one command's dependencies never slow another.
Errors from :mod:`promoter.errors` are printed as one redacted line and mapped to their exit code.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from promoter import __version__
from promoter.errors import INTERNAL, PromoterError
from promoter.secrets import RedactingFormatter, redact

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
    "check": "promoter.cli.check_cmd:check",
    "rollback": "promoter.cli.rollback_cmd:rollback",
    "status": "promoter.cli.status_cmd:status",
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
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """promoter: watch registries, edit GitOps files byte-exactly, open promotion PRs."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("promoter")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the one-error-handler of errors.py)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result: Any = cli.main(args=list(argv) if argv is not None else None,
                               prog_name="promoter", standalone_mode=False)
    except PromoterError as e:
        click.echo(f"promoter: error: {redact(str(e))}", err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the last resort: one line, no secrets, traceback only on --debug
        if debug:
            import traceback

            click.echo(redact(traceback.format_exc()), err=True)
        click.echo(f"promoter: unexpected error: {redact(type(e).__name__ + ': ' + str(e))}",
                   err=True)
        return INTERNAL
    return result if isinstance(result, int) else 0
