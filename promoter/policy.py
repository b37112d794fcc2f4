"""Tag policies: which of a repository's tags an image should run, best first. Pure, no I/O.

A :class:`TagPolicy` names a strategy from :data:`STRATEGIES` and the filters around it. The
pipeline for a list of tags (Flux's image policy, with Renovate's variant families):

1. **ignore**: drop tags matching any ``ignore`` pattern: a glob (``*-debug``), or a regex
   between slashes (``/^sha-/``).
2. **allow**: keep tags the ``allow`` regex finds (``re.search``, as Flux and Argo CD do; ``^``
   and ``$`` anchor at the very start and end of the tag, as in Go: ``$`` never matches before
   a trailing newline, so ``^[0-9.]+$`` does not admit ``"9.9.9\n"``); its named group ``version``
   (``(?P<version>...)``, or ``(?<version>...)`` as Go and JS write it), when present, is the
   part the strategy compares (``main-(?P<version>\\d+)-[0-9a-f]+``).
3. **strategy**: keep what the strategy can rank, then order best first:

   ``semver``        highest version in ``range`` (npm/Helm notation, see
                     :mod:`promoter.versions`); prereleases only with ``prerelease`` or when the
                     range (or the current tag) names a prerelease of the same release.
   ``newest-build``  latest image build time (``created``, a mapping tag -> datetime that the
                     caller fetches for :func:`survivors` only).
   ``alphabetical``  ``order=asc`` (default) picks the greatest string, ``desc`` the least.
   ``numerical``     the same over decimal numbers (``42``, ``1.5``).
   ``digest``        follows one moving tag (``stable``): the ``current`` tag itself, when the
                     repository has it; the caller pins its digest.

``current``, the tag running now, anchors the choice: the strategy never ranks a tag below it
(no downgrades; the current tag itself stays a candidate, when the repository still has it).
For ``semver`` the current tag must be a version (else :class:`InputError`); for the other
strategies a current tag they cannot rank (not numeric, no build time) sets no floor. For
``semver`` it also sets the
*family*: the ``v`` prefix style, the shape (``1.25`` moves to ``1.26``, ``1.25.3`` to
``1.25.4``) and the variant (``1.2.3-alpine`` only moves to other ``-alpine`` tags, a plain
tag never to a variant); and it is the base for ``max_update``. Without ``current`` only plain
versions compete, unless an ``allow`` pattern admits variants. Ties are broken by the tag text
(ascending), so the order is total and does not depend on the input order.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from promoter.errors import InputError
from promoter.versions import ANY, Range, UpdateType, Version, parse_version, update_type


class Order(enum.Enum):
    """For alphabetical and numerical: ``asc`` chooses the greatest value, ``desc`` the least."""

    ASC = "asc"
    DESC = "desc"


_GO_GROUP = re.compile(r"\(\?<(?![=!])")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def _end_anchored(pattern: str) -> str:
    """``pattern`` with each ``$`` outside a character class written ``\\Z``: the end of the
    text, where Python's ``$`` also matches before a final newline."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            for lead in ("^", "]"):  # "[^]...]" and "[]...]": that "]" is a member
                if pattern.startswith(lead, i):
                    out.append(lead)
                    i += 1
            continue
        elif ch == "$":
            ch = "\\Z"
        out.append(ch)
        i += 1
    return "".join(out)


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(_end_anchored(_GO_GROUP.sub("(?P<", pattern)))
    except re.error as e:
        raise InputError(f"invalid {what} regex {pattern!r}: {e}") from None


def _ignore_matcher(pattern: str) -> Callable[[str], bool]:
    if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
        rx = _compile(pattern[1:-1], "ignore")
        return lambda tag: rx.search(tag) is not None
    return lambda tag: fnmatch.fnmatchcase(tag, pattern)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagPolicy:
    """How to choose a tag. Invalid settings raise :class:`InputError` on construction."""

    strategy: str = "semver"  # a key of STRATEGIES
    range: str | None = None  # semver only
    allow: str | None = None
    ignore: tuple[str, ...] = ()
    prerelease: bool = False  # semver only
    max_update: UpdateType | None = None  # semver only; needs a current tag
    order: Order = Order.ASC  # alphabetical and numerical only
    min_age: timedelta | None = None  # a tag's image must be this old (build time) to be taken
    _range: Range = field(init=False, repr=False, compare=False, default=ANY)
    _allow: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _ignore: tuple[Callable[[str], bool], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown tag strategy {self.strategy!r}; "
                             f"choose one of {', '.join(STRATEGIES)}")
        if self.strategy != "semver":
            for name, set_ in (("a semver range", self.range is not None),
                               ("prerelease", self.prerelease),
                               ("max-update", self.max_update is not None)):
                if set_:
                    raise InputError(f"{name} applies to the semver strategy only, "
                                     f"not to {self.strategy}")
        if self.order is not Order.ASC and self.strategy not in ("alphabetical", "numerical"):
            raise InputError(f"order applies to alphabetical and numerical only, "
                             f"not to {self.strategy}")
        if self.min_age is not None and self.min_age < timedelta(0):
            raise InputError("min-age must not be negative")
        if self.min_age is not None and self.strategy == "digest":
            raise InputError("min-age does not apply to the digest strategy, which follows "
                             "the tag in use")
        if self.max_update is UpdateType.OTHER:
            raise InputError("max-update must be patch, minor or major")
        if self.range is not None:
            object.__setattr__(self, "_range", Range.parse(self.range))
        if self.allow is not None:
            object.__setattr__(self, "_allow", _compile(self.allow, "allow"))
        object.__setattr__(self, "_ignore", tuple(map(_ignore_matcher, self.ignore)))

    @property
    def needs_created(self) -> bool:
        """Whether :func:`candidates` needs build times (fetch them for :func:`survivors`)."""
        return STRATEGIES[self.strategy].needs_created

    def comparable(self, tag: str) -> str | None:
        """The part of ``tag`` the strategy compares (``allow``'s ``version`` group), or None
        when ``allow`` does not admit the tag. Ignore patterns are not applied here."""
        if self._allow is None:
            return tag
        m = self._allow.search(tag)
        if m is None:
            return None
        if "version" in self._allow.groupindex:
            value: str | None = m["version"]
            return value
        return tag

    def admits(self, tag: str) -> bool:
        """Whether ``tag`` passes ignore and allow."""
        return not any(ig(tag) for ig in self._ignore) and self.comparable(tag) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    policy: TagPolicy
    current: str | None
    current_version: Version | None
    created: Mapping[str, datetime] | None


# A rank is compared with < and ==; None means the strategy cannot rank the tag.
_RankFn = Callable[[str, str, _Context], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Strategy:
    """One way of ranking tags: higher rank is better (before ``order`` is applied)."""

    name: str
    help: str
    rank: _RankFn
    needs_created: bool = False
    needs_current: bool = False


def _version_of(policy: TagPolicy, tag: str) -> Version | None:
    value = policy.comparable(tag)
    return None if value is None else parse_version(value)


def _current_version(policy: TagPolicy, current: str) -> Version:
    version = _version_of(policy, current)
    if version is None:
        why = "is not a version" if policy.comparable(current) is not None else \
            "is not admitted by the allow pattern"
        raise InputError(f"current tag {current!r} {why}")
    return version


def _semver_rank(tag: str, value: str, ctx: _Context) -> Any:
    version = parse_version(value)
    if version is None:
        return None
    policy, base = ctx.policy, ctx.current_version
    if base is not None:
        if version.family != base.family:
            return None
        if policy.max_update is not None and \
                update_type(base, version).rank > policy.max_update.rank:
            return None
    elif version.variant and policy.allow is None:
        return None
    prerelease = policy.prerelease or (
        base is not None and base.is_prerelease and base.release == version.release
    )
    if not policy._range.contains(version, prerelease=prerelease):
        return None
    return version.key


def _numerical_rank(tag: str, value: str, ctx: _Context) -> Any:
    return Decimal(value) if _NUMBER.match(value) else None


def _alphabetical_rank(tag: str, value: str, ctx: _Context) -> Any:
    return value


def _newest_build_rank(tag: str, value: str, ctx: _Context) -> Any:
    if ctx.created is None:
        raise InputError("the newest-build strategy needs the build time of each tag")
    return ctx.created.get(tag)


def _digest_rank(tag: str, value: str, ctx: _Context) -> Any:
    return 0 if tag == ctx.current else None


STRATEGIES: dict[str, Strategy] = {
    "semver": Strategy(name="semver", rank=_semver_rank,
                       help="highest version in the range"),
    "newest-build": Strategy(name="newest-build", rank=_newest_build_rank, needs_created=True,
                             help="latest image build time (config 'created')"),
    "alphabetical": Strategy(name="alphabetical", rank=_alphabetical_rank,
                             help="greatest string (least with order desc)"),
    "numerical": Strategy(name="numerical", rank=_numerical_rank,
                          help="greatest number (least with order desc)"),
    "digest": Strategy(name="digest", rank=_digest_rank, needs_current=True,
                       help="follow one moving tag (the current one) and pin its digest"),
}


def _context(policy: TagPolicy, current: str | None,
             created: Mapping[str, datetime] | None) -> _Context:
    strategy = STRATEGIES[policy.strategy]
    if current is None and strategy.needs_current:
        raise InputError(f"the {policy.strategy} strategy needs the tag to follow "
                         "(the current tag)")
    if current is None and policy.max_update is not None:
        raise InputError("max-update needs the current tag")
    version = None
    if current is not None and policy.strategy == "semver":
        version = _current_version(policy, current)
    return _Context(policy=policy, current=current, current_version=version, created=created)


def _ranked(policy: TagPolicy, tags: Iterable[str], ctx: _Context) -> list[tuple[str, Any]]:
    rank = STRATEGIES[policy.strategy].rank
    ignore, comparable = policy._ignore, policy.comparable
    out: list[tuple[str, Any]] = []
    for tag in dict.fromkeys(tags):
        if ignore and any(ig(tag) for ig in ignore):
            continue
        value = comparable(tag)
        if value is None:
            continue
        r = rank(tag, value, ctx)
        if r is not None:
            out.append((tag, r))
    return out


def survivors(policy: TagPolicy, tags: Iterable[str], *, current: str | None = None
              ) -> tuple[str, ...]:
    """The tags that pass every filter that needs no build time, in input order.

    For ``newest-build`` these are the only tags whose build time :func:`candidates` needs.
    """
    ctx = _context(policy, current, None)
    if policy.needs_created:
        return tuple(t for t in dict.fromkeys(tags) if policy.admits(t))
    return tuple(tag for tag, _ in _ranked(policy, tags, ctx))


def candidates(policy: TagPolicy, tags: Iterable[str], *, current: str | None = None,
               created: Mapping[str, datetime] | None = None) -> tuple[str, ...]:
    """The tags ``policy`` accepts, best first; a subset of ``tags`` without duplicates."""
    ctx = _context(policy, current, created)
    ranked = _ranked(policy, tags, ctx)
    best_high = policy.order is Order.ASC
    if current is not None:
        floor = _floor(policy, current, ctx)
        if floor is not None:
            ranked = [(t, r) for t, r in ranked
                      if r == floor or (r > floor) == best_high]
    ranked.sort(key=lambda entry: entry[0])  # ties: tag text ascending (the sort is stable)
    ranked.sort(key=lambda entry: entry[1], reverse=best_high)
    return tuple(tag for tag, _ in ranked)


def _floor(policy: TagPolicy, current: str, ctx: _Context) -> Any:
    """The rank of the current tag: nothing below it is a candidate (None: no floor)."""
    if ctx.current_version is not None:
        return ctx.current_version.key
    value = policy.comparable(current)
    if value is None:
        return None
    return STRATEGIES[policy.strategy].rank(current, value, ctx)


def select(policy: TagPolicy, tags: Iterable[str], *, current: str | None = None,
           created: Mapping[str, datetime] | None = None) -> str | None:
    """The best tag for ``policy``, or None when no tag qualifies."""
    best = candidates(policy, tags, current=current, created=created)
    return best[0] if best else None


def update_of(policy: TagPolicy, current: str, new: str) -> UpdateType:
    """The update type of ``current`` -> ``new`` under ``policy`` (OTHER when not versions)."""
    if policy.strategy != "semver":
        return UpdateType.OTHER
    old_v, new_v = _version_of(policy, current), _version_of(policy, new)
    if old_v is None or new_v is None:
        return UpdateType.OTHER
    return update_type(old_v, new_v)
