"""``promoter status``: the matrix images x environments (versions, age, pending pull requests,
drift) as text, JSON, Markdown or one self-contained HTML page.

:func:`repo_options` and :func:`open_repo` are shared by ``status``, ``check`` and ``rollback``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.config import Config
from promoter.errors import PromoterError
from promoter.forge import Forge
from promoter.gitrepo import GitWorkspace
from promoter.render.html import status_html
from promoter.render.json import dumps
from promoter.render.markdown import markdown
from promoter.render.text import text as render_text
from promoter.secrets import redact

F = TypeVar("F", bound=Callable[..., Any])


def repo_options(f: F) -> F:
    """``--repo DIR`` and ``--config PATH``."""
    f = click.option("--config", "config", default=None, envvar="PROMOTER_CONFIG",
                     help="The config file (default: .promoter.yaml at the repository root)."
                     )(f)
    f = click.option("--repo", "repo", type=click.Path(file_okay=False), default=None,
                     help="The GitOps checkout (default: the current directory).")(f)
    return f


@contextlib.contextmanager
def open_repo(repo: str | None, config: str | None) -> Iterator[tuple[Config, GitWorkspace]]:
    """The config and the workspace of ``--repo`` (fetched when it has a remote)."""
    root = Path(repo or ".").resolve()
    cfg = wiring.load(root, config)
    try:  # the token only authenticates fetch and push; reading works without it
        token = wiring.forge_token(cfg, os.environ) if cfg.forge.token_env else None
    except PromoterError:
        token = None
    with wiring.workspace(str(root), None, token, cfg.forge.type) as ws:
        ws.fetch()
        yield cfg, ws


def optional_forge(cfg: Config) -> tuple[Forge | None, str | None]:
    """The configured forge, or None and why not (no forge configured is no error)."""
    try:
        return wiring.forge(cfg, os.environ), None
    except PromoterError as e:
        return None, redact(str(e))


@click.command("status")
@repo_options
@click.option("--image", "images", multiple=True, help="Only these images (config names).")
@click.option("--output", type=click.Choice(["text", "json", "markdown", "html"]),
              default="text", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
def status(repo: str | None, config: str | None, images: tuple[str, ...], output: str,
           out: str | None) -> int:
    """Every image in every environment: version, age, pending pull requests, drift.

    Exit 0, or 1 when something could not be read (listed under problems).
    """
    from promoter.flows import status as flow

    with open_repo(repo, config) as (cfg, ws):
        forge, why = optional_forge(cfg)
        st = flow.status(cfg, ws, forge, now=datetime.now(UTC), images=images or None)
    if why:  # a forge without credentials here: the matrix is still worth showing
        click.echo(f"promoter: note: pending pull requests not shown: {why}", err=True)
    if output == "json":
        text = dumps(st) + "\n"
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
    return 1 if st.errors else 0
