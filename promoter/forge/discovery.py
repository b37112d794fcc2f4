"""Fleet discovery: the repositories a forge lists under an organisation or group, narrowed by
topic and name (Renovate's autodiscover), as fleet members to clone.

:func:`members` is the pure part (which listed repositories join, as what);
:func:`discover` asks the forges, one ``discover:`` entry at a time: an entry whose forge does
not answer is that entry's problem, the others still count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from promoter.config.model import ForgeType, read_secret
from promoter.errors import Problem, PromoterError
from promoter.fleet import Discover, Member
from promoter.forge import ForgeOptions, Listed
from promoter.secrets import redact

log = logging.getLogger(__name__)

__all__ = ["Lister", "discover", "list_forge", "members"]

#: (entry, token) -> what the forge lists under ``entry.owner``
Lister = Callable[[Discover, str | None], Sequence[Listed]]


def members(entry: Discover, listed: Sequence[Listed]) -> list[Member]:
    """The listed repositories ``entry`` wants (archived ones never), sorted by name."""
    return [Member(name=r.full_name, clone=r.clone_url, config=entry.config,
                   token_env=entry.token_env)
            for r in sorted(listed, key=lambda r: r.full_name.lower())
            if not r.archived and entry.wants(r.full_name, r.topics)]


def list_forge(entry: Discover, token: str | None) -> Sequence[Listed]:
    """Ask the real forge of ``entry`` (PyGithub / python-gitlab)."""
    options = ForgeOptions(repo=entry.owner, url=entry.url, token=token)
    if entry.forge is ForgeType.GITHUB:
        from promoter.forge import github

        return github.list_repositories(options, entry.owner)
    if entry.forge is ForgeType.GITLAB:
        from promoter.forge import gitlab

        return gitlab.list_repositories(options, entry.owner, topic=entry.topic)
    raise PromoterError(f"discover: a {entry.forge.value} forge lists no repositories")


def discover(entries: Sequence[Discover], environ: Mapping[str, str], *,
             lister: Lister = list_forge
             ) -> tuple[list[Member], list[tuple[str, Problem]]]:
    """The members every entry finds (first entry first; a repository two entries find joins
    once) and (``discover github:acme``, the problem) per entry that could not be asked."""
    found: list[Member] = []
    seen: set[str] = set()
    problems: list[tuple[str, Problem]] = []
    for entry in entries:
        where = f"discover {entry.forge.value}:{entry.owner}"
        try:
            token = read_secret(environ, entry.token_env, key="discover.token-env")
            listed = lister(entry, token)
        except PromoterError as e:
            log.warning("%s: %s", where, redact(str(e)))
            problems.append((where, Problem.of(e)))
            continue
        for m in members(entry, listed):
            if m.name.lower() not in seen:
                seen.add(m.name.lower())
                found.append(m)
        log.info("%s: %d repositories", where, len(found))
    return found, problems
