"""A fleet: the GitOps repositories one promoter run covers, each with its own ``.promoter.yaml``.

A fleet comes from a fleet file (``--fleet FILE``), from ``--repo``/``--clone`` given more than
once, or from forge discovery (``discover:`` entries, Renovate's autodiscover). This module is
the pure part: it turns text into :class:`Fleet` with every problem a ``FILE:LINE:COL`` line, as
the config loader does. Opening the repositories and asking a forge for the ones to discover
belongs to the edges that use it.

    repositories:
      - path: gitops-a                      # a checkout, relative to the fleet file
      - clone: https://github.com/acme/gitops-b.git
        name: acme/gitops-b                 # how output and webhooks name it
        config: deploy/.promoter.yaml
    discover:
      - forge: github
        owner: acme
        topic: gitops-promoter
        token-env: GITHUB_TOKEN
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from promoter.config.document import decode, file_error, problems_error, validated
from promoter.config.model import ForgeType
from promoter.errors import InputError

__all__ = ["FLEET_NAMES", "Discover", "Fleet", "Member", "from_options", "load_fleet",
           "name_from_url", "parse_fleet"]

FLEET_NAMES = ("promoter-fleet.yaml", "promoter-fleet.yml")
_SCHEMA = "fleet.schema.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One repository of the fleet: a checkout (``path``) or a URL to clone (``clone``)."""

    name: str
    path: Path | None = None
    clone: str | None = None
    config: str | None = None  # inside the repository; None: .promoter.yaml or .yml
    token_env: str | None = None  # the clone's token (None: PROMOTER_GIT_TOKEN, GITHUB_TOKEN)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.clone is None):
            raise ValueError("a fleet member needs exactly one of path or clone")


@dataclass(frozen=True, slots=True, kw_only=True)
class Discover:
    """Repositories to find on a forge: an organisation/group, narrowed by topic or name."""

    forge: ForgeType
    owner: str
    url: str | None = None
    topic: str | None = None
    match: str | None = None  # a regular expression on the full name
    token_env: str | None = None
    config: str | None = None

    def wants(self, full_name: str, topics: Sequence[str]) -> bool:
        """Whether a repository the forge lists under ``owner`` belongs to the fleet."""
        if self.topic is not None and self.topic not in topics:
            return False
        return self.match is None or re.search(self.match, full_name) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fleet:
    members: tuple[Member, ...] = ()
    discover: tuple[Discover, ...] = ()
    path: str | None = None  # the fleet file, when there is one

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for m in self.members:
            if m.name in seen:
                raise InputError(f"the fleet names the repository {m.name!r} twice")
            seen.add(m.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def member(self, name: str) -> Member | None:
        """The member called ``name`` (compared as forges do: without case)."""
        low = name.lower()
        return next((m for m in self.members if m.name.lower() == low), None)

    def with_members(self, found: Sequence[Member]) -> Fleet:
        """This fleet plus repositories discovery found; one already listed keeps its entry."""
        known = {m.name.lower() for m in self.members}
        extra = tuple(m for m in found if m.name.lower() not in known)
        return Fleet(members=self.members + extra, discover=self.discover, path=self.path)


def name_from_url(url: str) -> str:
    """``https://github.com/acme/gitops.git`` -> ``acme/gitops``; GitLab subgroups stay
    (``group/sub/project``); ``git@host:acme/gitops.git`` and local paths work too."""
    text = url.strip()
    scp = re.fullmatch(r"[^/@:]+@[^/:]+:(.+)", text)  # git@host:owner/name
    if scp:
        path = scp.group(1)
    else:
        parts = urlsplit(text)
        path = parts.path if parts.scheme else text
    parts_ = [p for p in PurePosixPath(path).parts if p not in ("/", "")]
    if parts_ and parts_[-1].endswith(".git"):
        parts_[-1] = parts_[-1][:-4]
    parts_ = [p for p in parts_ if p]
    if not parts_:
        raise InputError(f"cannot tell a repository name from {url!r}; give it a name:")
    # a forge URL names owner/name (GitLab: group/.../name); a local path, its last part
    return "/".join(parts_ if scp or urlsplit(text).scheme in ("http", "https", "ssh")
                    else parts_[-1:])


def parse_fleet(text: str, *, file: str = FLEET_NAMES[0], base: Path | None = None) -> Fleet:
    """Validate ``text`` (the content of the fleet file ``file``) and build the :class:`Fleet`;
    ``path:`` entries are relative to ``base`` (default: the file's directory)."""
    doc = validated(text, file, _SCHEMA)
    if doc.problems:
        raise problems_error(doc.problems)
    data: dict[str, Any] = doc.data
    where = base if base is not None else Path(file).parent
    members: list[Member] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data.get("repositories") or ()):
        config = raw.get("config")
        if config is not None and not _inside(config):
            doc.problems.append(doc.problem(("repositories", i, "config"),
                                            "must be a path inside the repository (no '..', "
                                            "no absolute path)"))
        try:
            name = raw.get("name") or (name_from_url(raw["clone"]) if "clone" in raw
                                       else (where / raw["path"]).resolve().name)
        except InputError as e:
            doc.problems.append(doc.problem(("repositories", i), str(e)))
            continue
        if name.lower() in seen:
            doc.problems.append(doc.problem(
                ("repositories", i), f"the repository {name!r} is listed twice (also "
                f"repositories[{seen[name.lower()]}]); give one a different name:"))
            continue
        seen[name.lower()] = i
        members.append(Member(name=name, config=config, clone=raw.get("clone"),
                              path=where / raw["path"] if "path" in raw else None,
                              token_env=raw.get("token-env")))
    discover: list[Discover] = []
    for i, raw in enumerate(data.get("discover") or ()):
        if raw.get("match") is not None:
            try:
                re.compile(raw["match"])
            except re.error as e:
                doc.problems.append(doc.problem(("discover", i, "match"),
                                                f"not a regular expression: {e}"))
        config = raw.get("config")
        if config is not None and not _inside(config):
            doc.problems.append(doc.problem(("discover", i, "config"),
                                            "must be a path inside the repository"))
        discover.append(Discover(forge=ForgeType(raw["forge"]), owner=raw["owner"],
                                 url=raw.get("url"), topic=raw.get("topic"),
                                 match=raw.get("match"), token_env=raw.get("token-env"),
                                 config=config))
    if doc.problems:
        raise problems_error(doc.problems)
    return Fleet(members=tuple(members), discover=tuple(discover), path=file)


def load_fleet(path: str | Path) -> Fleet:
    """Read and parse the fleet file ``path``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise file_error(str(path), "no such file") from None
    except OSError as e:
        raise file_error(str(path), f"cannot read it: {e.strerror}") from None
    return parse_fleet(decode(data, str(path)), file=str(path), base=p.parent)


def from_options(repos: Sequence[str], clones: Sequence[str], *,
                 config: str | None = None) -> Fleet:
    """The fleet ``--repo DIR`` and ``--clone URL``, each given any number of times, name."""
    members: list[Member] = []
    for r in repos:
        p = Path(r)
        members.append(Member(name=p.resolve().name, path=p, config=config))
    members += [Member(name=name_from_url(u), clone=u, config=config) for u in clones]
    return Fleet(members=tuple(members))


def _inside(path: str) -> bool:
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in path and bool(p.parts)

