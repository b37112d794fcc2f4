"""``promoter demo``: the main job on an embedded default, no account anywhere."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from promoter.demo.run import run_demo


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to leave the demo repository (default: a new temporary directory).")
def demo(workdir: Path | None) -> int:
    """Start a local registry and GitOps repository, poll, promote dev to staging, and show
    the branches made."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="promoter-demo-"))
    return 0 if run_demo(workdir.resolve(), click.echo) else 1
