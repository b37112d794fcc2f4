"""``promoter status``: the matrix images x environments (versions, age, pending pull requests,
drift) as text, JSON, Markdown or one self-contained HTML page.

The repository is opened to read, with :func:`promoter.cli.repo.open_repo`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.cli.output import console, output_option, record
from promoter.cli.repo import checkout_options, open_repo, optional_forge
from promoter.render.html import status_html
from promoter.render.json import dumps
from promoter.render.markdown import markdown
from promoter.render.text import text as render_text

F = TypeVar("F", bound=Callable[..., Any])


@click.command("status")
@checkout_options
@click.option("--image", "images", multiple=True, help="Only these images (config names).")
@output_option("text", "json", "markdown", "html")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
def status(repo: str | None, config: str | None, images: tuple[str, ...], output: str,
           out: str | None) -> int:
    """Every image in every environment: version, age, pending pull requests, drift.

    Exit 0, 1 when a problem is listed (something could not be read, an image not found),
    2 on bad input, 3 when the forge did not answer.
    """
    from promoter.flows import status as flow

    with open_repo(repo, config) as (cfg, ws):
        forge, why = optional_forge(cfg)
        now = datetime.now(UTC)
        st = flow.status(cfg, ws, forge, now=now, images=images or None,
                         signatures=wiring.signature_checks(cfg, ws, os.environ, now=now),
                         progress=console().progress)
    if why:  # a forge without credentials here: the matrix is still worth showing
        click.echo(f"promoter: note: pending pull requests not shown: {why}", err=True)
    if output == "json":
        text = dumps(st, command="status", exit_code=st.exit_code) + "\n"
        record(st.problems)
    elif output == "markdown":
        text = markdown(st)
    elif output == "html":
        text = status_html(st)
    else:
        text = render_text(st)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    return st.exit_code
