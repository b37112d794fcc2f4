"""The options that name one repository or a fleet of them, shared by ``plan``, ``poll``,
``promote`` and ``watch``: ``--repo DIR`` and ``--clone URL`` (each any number of times),
``--fleet FILE`` and ``--parallel N``.

One ``--repo`` or one ``--clone`` (or neither: the current directory) is the single-repository
command exactly as before: same output, same JSON. Anything more is a fleet: each repository
gets its own run with its own ``.promoter.yaml``, one registry read per image for all of them
(:mod:`promoter.registry.shared`), and the output lists each repository's result under
``repositories``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from promoter import wiring
from promoter.cli.output import print_json
from promoter.cli.repo import session
from promoter.config import Config, read_secret
from promoter.errors import InputError, Problem
from promoter.fleet import Fleet, Member, from_options, load_fleet
from promoter.flows.fleet import FleetReport, Outcome, RepoRun, run_fleet
from promoter.gitrepo import GitWorkspace
from promoter.registry import Registry
from promoter.registry.httpcache import HttpCache
from promoter.registry.shared import RunCache, Shared

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound=Outcome)


def fleet_options(f: F) -> F:
    """``--repo``/``--clone`` (repeatable), ``--config``, ``--fleet`` and ``--parallel``."""
    return _options(f, parallel=True)


def serve_fleet_options(f: F) -> F:
    """:func:`fleet_options` without ``--parallel`` (``serve`` has ``--workers``)."""
    return _options(f, parallel=False)


def _options(f: F, *, parallel: bool) -> F:
    options = [
        click.option("--repo", "repo", multiple=True, type=click.Path(file_okay=False),
                     help="The GitOps checkout to work on (default: the current directory); "
                          "more than once for a fleet."),
        click.option("--clone", "clone", multiple=True, metavar="URL",
                     help="Clone this repository into a temporary directory instead; the "
                          "forge token authenticates and never reaches a log. More than once "
                          "for a fleet."),
        click.option("--config", "config", default=None, envvar="PROMOTER_CONFIG",
                     help="The config file (default: .promoter.yaml at the repository root); "
                          "in a fleet, a path inside each repository."),
        click.option("--fleet", "fleet", default=None, metavar="FILE",
                     envvar="PROMOTER_FLEET", type=click.Path(dir_okay=False),
                     help="A fleet file listing the repositories (and forge organisations "
                          "to discover them in), each with its own .promoter.yaml."),
    ]
    if parallel:
        options.append(click.option("--parallel", "parallel", type=click.IntRange(min=1),
                                    default=4, show_default=True,
                                    help="In a fleet: how many repositories run at once."))
    for opt in reversed(options):
        f = opt(f)
    return f


@dataclass(frozen=True, slots=True)
class Resolved:
    """The fleet to run, and a problem per ``discover:`` entry whose forge could not say."""

    fleet: Fleet
    problems: tuple[tuple[str, Problem], ...] = ()  # (which discover: entry, what went wrong)


def resolve(repo: tuple[str, ...], clone: tuple[str, ...], config: str | None,
            fleet: str | None, environ: Mapping[str, str] | None = None) -> Resolved | None:
    """The fleet the options name, or None for the one repository of ``--repo``/``--clone``
    (or the current directory). A fleet file's ``discover:`` entries are asked of their
    forges here."""
    if fleet is None and len(repo) + len(clone) <= 1:
        return None
    found = from_options(repo, clone, config=config)
    if fleet is not None:
        from_file = load_fleet(fleet)
        found = Fleet(members=from_file.members + found.members, discover=from_file.discover,
                      path=from_file.path)
    problems: list[tuple[str, Problem]] = []
    if found.discover:
        from promoter.forge.discovery import discover

        more, problems = discover(found.discover, os.environ if environ is None else environ)
        found = found.with_members(more)
    if not found.members and not problems:
        raise InputError(f"{fleet or 'the fleet'}: no repository in it (and discovery found "
                         "none)")
    return Resolved(fleet=found, problems=tuple(problems))


def single(repo: tuple[str, ...], clone: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(``--repo``, ``--clone``) of a single-repository run."""
    return (repo[0] if repo else None), (clone[0] if clone else None)


@contextlib.contextmanager
def member_session(member: Member, *, forge_token: bool = True
                   ) -> Iterator[tuple[Config, GitWorkspace]]:
    """The config and workspace of one fleet member, its config path inside it."""
    if member.path is not None:
        root = member.path.resolve()
        config = str(root / member.config) if member.config else None
        with session(str(root), None, config, forge_token=forge_token) as opened:
            yield opened
    else:
        token = read_secret(os.environ, member.token_env, key="token-env") \
            if member.token_env else None
        with session(None, member.clone, member.config, forge_token=forge_token,
                     clone_token=token) as opened:
            yield opened


def registry_scope(cfg: Config, environ: Mapping[str, str]) -> str:
    """What makes two configs see a registry alike: the credentials, CAs and plain-HTTP hosts
    they give for it (hashed: the key never holds a secret)."""
    parts = []
    for r in sorted(cfg.registries, key=lambda r: r.host):
        values = [environ.get(name or "", "") for name in (r.username_env, r.password_env,
                                                           r.token_env, r.ca_file_env)]
        parts.append(repr((r.host.lower(), values, r.ca_file, r.insecure)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class FleetRun:
    """What every repository of one fleet command shares: the registry answers."""

    cache: RunCache = field(default_factory=RunCache)
    observer: Callable[..., None] | None = None  # counts each real registry request
    kept: HttpCache | None = None  # answers kept across runs (watch: the process's)

    def registry(self, cfg: Config) -> Registry:
        inner = wiring.registry(cfg, os.environ, kept=self.kept)
        if self.observer is not None:
            inner.observer = self.observer
        return Shared(inner, self.cache, scope=registry_scope(cfg, os.environ))

    def run(self, found: Resolved, one: Callable[[Member], R], *,
            parallel: int) -> FleetReport[R]:
        report = run_fleet(found.fleet.members, one, parallel=parallel,
                           stats=lambda: self.cache.stats)
        failed: tuple[RepoRun[R], ...] = tuple(RepoRun(name=where, failure=(p,),
                                  failure_code=3 if p.retryable else 2)
                       for where, p in found.problems)
        return dataclasses.replace(report, runs=failed + report.runs)


def print_fleet(report: FleetReport[Any], output: str) -> int:
    """Print a fleet report as text (each repository under its name) or the JSON envelope."""
    from promoter.render.text import text

    if output == "json":
        return print_json(report, exit_code=report.exit_code)
    click.echo(text(report), nl=False)
    for p in report.problems:
        click.echo(f"promoter: {p}", err=True)
    return report.exit_code


def only_known(names: tuple[str, ...], known: Callable[[str], object]) -> tuple[str, ...]:
    """The ``--image``/``--env`` names this repository has (a fleet's repositories differ)."""
    kept = []
    for n in names:
        try:
            known(n)
        except InputError:
            continue
        kept.append(n)
    return tuple(kept)

