"""What every command that works on a GitOps repository shares: the options that name it
(``--repo DIR``, ``--clone URL``, ``--config PATH``) and the one way it is opened.

:func:`session` opens it to change it (the forge token, when the config names one, must be
there: it authenticates the push); :func:`open_repo` opens a checkout to read it (the token
only authenticates the fetch, so reading goes on without it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.config import CONFIG_NAMES, Config, parse_config
from promoter.errors import InputError, PromoterError
from promoter.forge import Forge
from promoter.gitrepo import GitWorkspace
from promoter.secrets import redact

F = TypeVar("F", bound=Callable[..., Any])

_REPO = click.option("--repo", "repo", type=click.Path(file_okay=False), default=None,
                     help="The GitOps checkout to work on (default: the current directory).")
_CLONE = click.option("--clone", "clone", default=None, metavar="URL",
                      help="Clone this repository into a temporary directory instead; the "
                           "forge token authenticates and never reaches a log.")
_CONFIG = click.option("--config", "config", default=None, envvar="PROMOTER_CONFIG",
                       help="The config file (default: .promoter.yaml at the repository root).")


def repo_options(f: F) -> F:
    """``--repo DIR | --clone URL`` and ``--config PATH``, for :func:`session`."""
    return _REPO(_CLONE(_CONFIG(f)))


def checkout_options(f: F) -> F:
    """``--repo DIR`` and ``--config PATH``, for :func:`open_repo`."""
    return _REPO(_CONFIG(f))


def _token(cfg: Config, *, needed: bool) -> str | None:
    """The forge token the config names (None when it names none); a missing one raises
    only when ``needed``."""
    if not cfg.forge.token_env:
        return None
    try:
        return wiring.forge_token(cfg, os.environ)
    except PromoterError:
        if needed:
            raise
        return None


@contextlib.contextmanager
def session(repo: str | None, clone: str | None, config: str | None, *,
            forge_token: bool = True, clone_token: str | None = None
            ) -> Iterator[tuple[Config, GitWorkspace]]:
    """The config and the workspace of ``--repo`` or of a temporary ``--clone``, to change
    (``forge_token`` False: to plan, where a missing forge token is no error); the clone is
    authenticated by ``clone_token``, else ``PROMOTER_GIT_TOKEN``, else ``GITHUB_TOKEN``."""
    if clone:
        token = clone_token or os.environ.get("PROMOTER_GIT_TOKEN") or \
            os.environ.get("GITHUB_TOKEN")
        with wiring.workspace(None, clone, token) as ws:
            yield _config_from_git(ws, config), ws
        return
    root = Path(repo or ".").resolve()
    cfg = wiring.load(root, config)
    with wiring.workspace(str(root), None, _token(cfg, needed=forge_token),
                          cfg.forge.type) as ws:
        yield cfg, ws


@contextlib.contextmanager
def open_repo(repo: str | None, config: str | None) -> Iterator[tuple[Config, GitWorkspace]]:
    """The config and the workspace of ``--repo``, to read (fetched when it has a remote)."""
    root = Path(repo or ".").resolve()
    cfg = wiring.load(root, config)
    with wiring.workspace(str(root), None, _token(cfg, needed=False), cfg.forge.type) as ws:
        ws.fetch()
        yield cfg, ws


def optional_forge(cfg: Config) -> tuple[Forge | None, str | None]:
    """The configured forge, or None and why not (no forge configured is no error)."""
    try:
        return wiring.forge(cfg, os.environ), None
    except PromoterError as e:
        return None, redact(str(e))


def _config_from_git(ws: GitWorkspace, config: str | None) -> Config:
    head = ws.resolve("HEAD")
    names = (config,) if config else CONFIG_NAMES
    for name in names:
        text = ws.read(head, name) if head and name else None
        if text is not None:
            return parse_config(text, file=name or CONFIG_NAMES[0])
    raise InputError(f"{names[0]}: not found in the cloned repository")
