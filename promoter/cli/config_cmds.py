"""``promoter schema`` and ``promoter config validate``: the configuration file's contract."""

from __future__ import annotations

from pathlib import Path

import click

from promoter.cli.output import output_option, print_json
from promoter.config import find_config, load_config, schema_text
from promoter.errors import ConfigError
from promoter.secrets import redact


@click.command()
def schema() -> int:
    """Print the JSON Schema (draft 2020-12) of .promoter.yaml.

    Editors validate with it, e.g. with the comment
    `# yaml-language-server: $schema=promoter.schema.json` at the top of the file.
    """
    click.echo(schema_text(), nl=False)
    return 0


@click.group()
def config() -> None:
    """Work with the .promoter.yaml configuration file."""


@config.command()
@click.argument("path", required=False, type=click.Path(dir_okay=True, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Repository root that paths in the file are relative to "
                   "(default: the file's folder).")
@output_option("text", "json")
def validate(path: Path | None, root: Path | None, output: str) -> int:
    """Check PATH (default: .promoter.yaml in the current directory) and say what it declares.

    Every error found is printed, in the order of the file, each as FILE:LINE:COL: KEY:
    what is wrong (exit 2); nothing is contacted.
    """
    if path is None or path.is_dir():
        path = find_config(path or Path("."))
    try:
        cfg = load_config(path, root=root)
    except ConfigError as e:
        if output == "json":
            print_json(None, exit_code=e.exit_code, errors=e.problems)
        for problem in e.problems:
            click.echo(f"promoter: error: {redact(str(problem))}", err=True)
        return e.exit_code
    if output == "json":
        return print_json(cfg, exit_code=0, errors=())
    envs = " -> ".join(e.name + ("*" if e.track else "") for e in cfg.environments)
    if not cfg.linear:  # a graph: every edge
        envs = "; ".join(f"{', '.join(e.sources) or 'registry'} -> {e.name}"
                         + ("*" if e.track else "") for e in cfg.order())
    click.echo(f"{path}: ok: {len(cfg.images)} image(s); environments {envs} "
               f"(* tracks the registry); forge {cfg.forge.type.value}")
    return 0
