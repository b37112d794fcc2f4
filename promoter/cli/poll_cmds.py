"""``promoter plan`` and ``promoter poll``."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.config import CONFIG_NAMES, Config, Group, parse_config
from promoter.errors import InputError
from promoter.flows.poll import Report, make_plan, poll
from promoter.gitrepo import GitWorkspace
from promoter.render.json import dumps
from promoter.render.markdown import markdown
from promoter.render.text import text

F = TypeVar("F", bound=Callable[..., Any])


def repo_options(f: F) -> F:
    """``--repo DIR | --clone URL`` and ``--config PATH``, for :func:`session`."""
    for opt in reversed([
        click.option("--repo", "repo", type=click.Path(file_okay=False), default=None,
                     help="The GitOps checkout to work on (default: the current directory)."),
        click.option("--clone", "clone", default=None, metavar="URL",
                     help="Clone this repository into a temporary directory instead; the "
                          "forge token authenticates and never reaches a log."),
        click.option("--config", "config", default=None, envvar="PROMOTER_CONFIG",
                     help="The config file (default: .promoter.yaml at the repository root)."),
    ]):
        f = opt(f)
    return f


def _parse_shard(ctx: click.Context | None, param: click.Parameter | None,
                 value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if m is None or not 1 <= int(m[1]) <= int(m[2]):
        raise click.BadParameter(f"{value!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(m[1]), int(m[2])


def shard_option(f: F) -> F:
    """``--shard I/N`` (1-based): only the images of shard I of N, see :func:`apply_shard`."""
    return click.option(
        "--shard", "shard", default=None, metavar="I/N", envvar="PROMOTER_SHARD",
        callback=_parse_shard,
        help="Only shard I of N (1-based) of the images, split by a stable hash of their "
             "names, so N parallel jobs never touch one image.")(f)


def apply_shard(cfg: Config, shard: tuple[int, int] | None) -> Config:
    """``cfg`` with only the images of ``shard`` (I, N), 1-based; ``cfg`` itself for None.

    Pull requests grouped by environment would make two shards write one branch, so sharding
    (N > 1) needs ``pull-requests.group: image``.
    """
    if shard is None:
        return cfg
    index, count = shard
    if count > 1 and cfg.pull_requests.group is not Group.IMAGE:
        raise InputError(f"{cfg.path}: --shard {index}/{count} needs pull-requests.group: "
                         f"image (shards would share the {cfg.pull_requests.group.value} "
                         "branches)")
    return dataclasses.replace(cfg, images=cfg.shard(index - 1, count))


def common(f: F) -> F:
    for opt in reversed([
        click.option("--env", "envs", multiple=True,
                     help="Only these environments (default: those tracking the registry)."),
        click.option("--image", "images", multiple=True, help="Only these images (config names)."),
    ]):
        f = opt(f)
    return shard_option(repo_options(f))


@contextlib.contextmanager
def _session(repo: str | None, clone: str | None, config: str | None
             ) -> Iterator[tuple[Config, GitWorkspace]]:
    environ = dict(os.environ)
    if clone:
        token = os.environ.get("PROMOTER_GIT_TOKEN") or os.environ.get("GITHUB_TOKEN")
        with wiring.workspace(None, clone, token) as ws:
            cfg = _config_from_git(ws, config)
            yield cfg, ws
        return
    root = Path(repo or ".").resolve()
    cfg = wiring.load(root, config)
    token = wiring.forge_token(cfg, environ) if cfg.forge.token_env else None
    with wiring.workspace(str(root), None, token, cfg.forge.type) as ws:
        yield cfg, ws


session = _session  # public: other commands open the same (config, workspace) pair


def _config_from_git(ws: GitWorkspace, config: str | None) -> Config:
    head = ws.resolve("HEAD")
    names = (config,) if config else CONFIG_NAMES
    for name in names:
        text = ws.read(head, name) if head and name else None
        if text is not None:
            return parse_config(text, file=name or CONFIG_NAMES[0])
    raise InputError(f"{names[0]}: not found in the cloned repository")


def _run_plan(repo: str | None, clone: str | None, config: str | None, envs: tuple[str, ...],
              images: tuple[str, ...], *, dry_run: bool, do_poll: bool,
              shard: tuple[int, int] | None = None) -> Report:
    with _session(repo, clone, config) as (cfg, ws):
        cfg = apply_shard(cfg, shard)
        reg = wiring.registry(cfg, os.environ)  # entered by the flow, in its event loop
        if do_poll:
            forge = None if dry_run else wiring.forge(cfg, os.environ)
            return poll(cfg, ws, reg, forge, dry_run=dry_run, envs=envs or None,
                        images=images or None)
        ws.fetch()
        plan, errors, _ = make_plan(cfg, ws, reg, envs=envs or None, images=images or None)
        return Report(plan=plan, errors=errors)


def _print(report: Report, output: str, *, results: bool) -> None:
    """``plan`` prints the plan alone (its JSON is the plan's); ``poll`` adds the results."""
    shown: object = report if results else report.plan
    if output == "json":
        click.echo(dumps(shown))
    elif output == "markdown":
        click.echo(markdown(shown), nl=False)
    else:
        click.echo(text(shown), nl=False)
    for e in report.errors:
        click.echo(f"promoter: {e}", err=True)


@click.command("plan")
@common
@click.option("--output", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
def plan_cmd(repo: str | None, clone: str | None, config: str | None, envs: tuple[str, ...],
             images: tuple[str, ...], shard: tuple[int, int] | None, output: str) -> int:
    """Show what the next poll would change, with unified diffs; writes nothing."""
    report = _run_plan(repo, clone, config, envs, images, dry_run=True, do_poll=False,
                       shard=shard)
    _print(report, output, results=False)
    return 0 if report.ok else 1


@click.command("poll")
@common
@click.option("--dry-run", is_flag=True, help="Plan only: push nothing, open nothing.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def poll_cmd(repo: str | None, clone: str | None, config: str | None, envs: tuple[str, ...],
             images: tuple[str, ...], shard: tuple[int, int] | None, dry_run: bool,
             output: str) -> int:
    """Pick the best tag for each image, edit the targets, open or update the pull requests."""
    report = _run_plan(repo, clone, config, envs, images, dry_run=dry_run, do_poll=True,
                       shard=shard)
    _print(report, output, results=True)
    return 0 if report.ok else 1
