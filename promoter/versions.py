"""Versions read from image tags, their order, update types and npm/Helm style ranges.

A tag is a version when it reads ``[v]N[.N[.N[.N]]][PRE][-SUFFIX][+BUILD]``:

* ``v`` (or ``V``) is kept as the tag's *prefix style*; ``v1.2.3`` and ``1.2.3`` are equal.
* One to four numeric parts. ``1`` and ``1.2`` are partial versions (floating tags such as
  ``nginx:1.25``) and order as ``1.0.0`` and ``1.2.0``; a fourth part (``1.2.3.4``) orders after
  the patch. The number of parts is the tag's *shape*.
* What follows the numbers after a ``-`` is split into ``-`` separated chunks. Leading chunks
  whose first identifier is a number or a prerelease word (``alpha``, ``beta``, ``rc``, ``pre``,
  ``preview``, ``dev``, ``snapshot``, ``canary``, ``nightly``, ``next``, ``ea``, ``a``, ``b``,
  ``m``, optionally followed by digits) are the *prerelease*: ``1.2.3-rc.1``, ``1.2.3-beta2``.
  The first chunk that is not starts the *variant*: ``1.2.3-alpine``, ``1.2.3-rc.1-alpine``,
  ``16.1-bookworm``. A prerelease word may also be attached (``3.12.0b1``, ``1.0.0rc2``).
* ``+BUILD`` is build metadata: kept, ignored by the order (tags cannot hold ``+``, but versions
  in chart files and ranges can).

A tag that is strict semver once its ``v`` is set aside (``1.2.3``, ``v1.2.3-rc.1+b7``) is
parsed by the ``semver`` library, and our rules apply to what it returns: its prerelease is
split into prerelease and variant as above. Everything semver refuses (partials, a fourth
part, attached words, leading zeros, ``_`` in build metadata) is read by our own grammar.
:meth:`Version.to_semver` gives the strict view back.

The order is semver's precedence (a release above its prereleases, identifiers compared
dot by dot, numbers below words) with one change: an identifier mixing letters and digits
compares naturally, so ``rc2 < rc10`` (semver says ``rc10 < rc2``, which no tag author means).

Ranges follow npm's grammar, which Helm (Masterminds semver) shares: ``1.2.3``, ``=1.2.3``,
``>=1.0 <2.0`` (also with commas, as Helm writes them), ``!=1.2.3``, ``1.x``, ``1.2.*``, ``*``,
``~1.2.3``, ``~>1.2``, ``^1.2``, hyphen ranges ``1.2 - 1.4`` and alternatives joined by ``||``.
npm's prerelease rule holds: a prerelease satisfies a range only when a comparator of the range
names a prerelease of the same ``major.minor.patch`` (``>=1.2.3-rc.1``), unless the caller
allows prereleases. Pure: no I/O.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import semver

from promoter.errors import InputError

# A comparable identifier: (0, number) for a numeric identifier, (1, runs) for a word, where runs
# are (0, n, "") for digit runs and (1, 0, s) for other runs (natural order inside a word).
_Ident = tuple[int, object]
# (n1, n2, n3, n4, prerelease key); prerelease key (1,) for a release, (0, *idents) otherwise.
Key = tuple[int, int, int, int, tuple[object, ...]]

_RELEASE: tuple[object, ...] = (1,)
_PRE_WORD = r"(?:alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly|next|ea|a|b|m)"
_PRE_CHUNK = re.compile(rf"^(?:\d+|{_PRE_WORD}\d*)(?:\.|$)", re.IGNORECASE | re.ASCII)
_TAG_VERSION = re.compile(
    r"^(?P<prefix>[vV]?)(?P<numbers>\d+(?:\.\d+){0,3})"
    rf"(?P<attached>\.?{_PRE_WORD}\d*(?:\.[0-9A-Za-z]+)*)?"
    r"(?:-(?P<suffix>[0-9A-Za-z][0-9A-Za-z.\-_]*))?"
    r"(?:\+(?P<build>[0-9A-Za-z.\-_]+))?$",
    re.IGNORECASE | re.ASCII,
)
_RUNS = re.compile(r"\d+|\D+", re.ASCII)


class UpdateType(enum.Enum):
    """How far a version moves: the first numeric part that changes."""

    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"
    OTHER = "other"  # no numeric or prerelease change (build, prefix style), or not versions

    @property
    def rank(self) -> int:
        """OTHER 0 < PATCH 1 < MINOR 2 < MAJOR 3: an update is within a limit when rank <= it."""
        return _UPDATE_RANK[self]


_UPDATE_RANK = {UpdateType.OTHER: 0, UpdateType.PATCH: 1, UpdateType.MINOR: 2,
                UpdateType.MAJOR: 3}


def _ident(text: str) -> _Ident:
    if text.isdigit():
        return (0, int(text))
    runs = tuple((0, int(r), "") if r.isdigit() else (1, 0, r) for r in _RUNS.findall(text))
    return (1, runs)


def _split_pre(text: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[.\-]", text) if p)


def _pre_key(prerelease: tuple[str, ...]) -> tuple[object, ...]:
    return (0, *map(_ident, prerelease)) if prerelease else _RELEASE


def _pad(numbers: tuple[int, ...]) -> tuple[int, int, int, int]:
    n = (*numbers, 0, 0, 0, 0)
    return (n[0], n[1], n[2], n[3])


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """A version read from a tag (or a chart file). ``text`` is exactly what was parsed."""

    text: str
    prefix: str = ""  # "v", "V" or ""
    numbers: tuple[int, ...]  # 1 to 4 parts, as written
    prerelease: tuple[str, ...] = ()
    variant: str = ""  # "alpine" for 1.2.3-alpine; "" for a plain version
    build: str = ""
    key: Key = field(init=False, repr=False, compare=False)
    """The precedence key: equal for ``v1.2.0``, ``1.2`` and ``1.2.0+b1``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (*_pad(self.numbers), _pre_key(self.prerelease)))

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``text``; raise :class:`InputError` when it is not a version."""
        v = parse_version(text)
        if v is None:
            raise InputError(f"not a version: {text!r}")
        return v

    @property
    def major(self) -> int:
        return self.numbers[0]

    @property
    def minor(self) -> int:
        return _pad(self.numbers)[1]

    @property
    def patch(self) -> int:
        return _pad(self.numbers)[2]

    @property
    def release(self) -> tuple[int, int, int, int]:
        """The numeric parts padded to four: ``1.2`` -> ``(1, 2, 0, 0)``."""
        k = self.key
        return (k[0], k[1], k[2], k[3])

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def family(self) -> tuple[str, int, str]:
        """(prefix style, shape, variant): an image moves only within its family."""
        return (self.prefix.lower(), len(self.numbers), self.variant)

    def to_semver(self) -> semver.Version | None:
        """This version as strict semver (``v1.2`` -> ``1.2.0``), or ``None`` when our rules
        read something semver has no place for: a fourth part or a variant."""
        if len(self.numbers) > 3 or self.variant:
            return None
        return semver.Version(self.major, self.minor, self.patch,
                              ".".join(self.prerelease) or None, self.build or None)

    def __str__(self) -> str:
        return self.text


def _split_suffix(suffix: str) -> tuple[tuple[str, ...], str] | None:
    """``rc.1-alpine`` -> (("rc", "1"), "alpine"): leading prerelease chunks, then the variant."""
    chunks = suffix.split("-")
    if "" in chunks:
        return None
    i = 0
    while i < len(chunks) and _PRE_CHUNK.match(chunks[i]):
        if "" in chunks[i].split("."):
            return None
        i += 1
    return tuple(p for c in chunks[:i] for p in _split_pre(c)), "-".join(chunks[i:])


_semver_parse = semver.Version.parse


@functools.lru_cache(maxsize=1 << 16)  # repositories share most tags; a Version is immutable
def parse_version(text: str) -> Version | None:
    """The version a tag holds, or ``None`` (``latest``, ``main-abc``, ``1.2.3.4.5``)."""
    m = _TAG_VERSION.match(text)
    if m is None:
        return None
    prefix, numbers, attached, suffix, build = m.groups()
    if attached is None and numbers.count(".") == 2:
        try:
            strict = _semver_parse(text[len(prefix):])
        except ValueError:  # leading zeros, "_" in build metadata: our grammar reads them
            pass
        else:
            pre = _split_suffix(strict.prerelease) if strict.prerelease else ((), "")
            if pre is None:
                return None
            return Version(text=text, prefix=prefix,
                           numbers=(strict.major, strict.minor, strict.patch),
                           prerelease=pre[0], variant=pre[1], build=strict.build or "")
    prerelease = _split_pre(attached) if attached else ()
    variant = ""
    if suffix:
        split = _split_suffix(suffix)
        if split is None:
            return None
        prerelease += split[0]
        variant = split[1]
    return Version(text=text, prefix=prefix, numbers=tuple(map(int, numbers.split("."))),
                   prerelease=prerelease, variant=variant, build=build or "")


def update_type(old: Version, new: Version) -> UpdateType:
    """How ``old`` -> ``new`` moves: MAJOR, MINOR, PATCH (also 4th part, prerelease) or OTHER.

    Symmetric in direction: a downgrade of the minor part is a MINOR update too.
    """
    a, b = old.release, new.release
    if a[0] != b[0]:
        return UpdateType.MAJOR
    if a[1] != b[1]:
        return UpdateType.MINOR
    if a[2:] != b[2:] or old.key != new.key:
        return UpdateType.PATCH
    return UpdateType.OTHER


# ----------------------------------------------------------------------------- ranges


class Op(enum.Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="
    NE = "!="


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparator:
    """One bound of a range. ``names`` is the release a user-written prerelease bound names."""

    op: Op
    key: Key
    names: tuple[int, int, int, int] | None = None
    _test: Callable[[Key, Key], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", _OP_FUNCS[self.op])

    def test(self, key: Key) -> bool:
        return self._test(key, self.key)


_OP_FUNCS: dict[Op, Callable[[Key, Key], bool]] = {
    Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge,
    Op.EQ: operator.eq, Op.NE: operator.ne}


_LOWEST: tuple[object, ...] = (0, (0, 0))  # the "-0" prerelease: below every other one
_NOTHING = Comparator(op=Op.LT, key=(0, 0, 0, 0, (0,)))  # no version is below it
_PARTIAL = re.compile(
    r"^[vV]?(?P<n1>\d+|[xX*])(?:\.(?P<n2>\d+|[xX*])(?:\.(?P<n3>\d+|[xX*])"
    r"(?:\.(?P<n4>\d+|[xX*]))?)?)?"
    r"(?:-(?P<pre>[0-9A-Za-z][0-9A-Za-z.\-]*))?(?:\+[0-9A-Za-z.\-]+)?$",
    re.ASCII,
)
_OPERAND = re.compile(r"^(?P<op>>=|<=|!=|~>|==|>|<|=|~|\^)?(?P<ver>.*)$")
_OP_SPACE = re.compile(r"(>=|<=|!=|~>|==|>|<|=|~|\^)\s+")
_HYPHEN = re.compile(r"^(?P<a>\S+)\s+-\s+(?P<b>\S+)$")


@dataclass(frozen=True, slots=True)
class _Partial:
    numbers: tuple[int, ...]  # the parts given before the first x/*; () for "*"
    prerelease: tuple[str, ...]
    wild: bool  # an x/* was written ("1.2.3.x"): a range even with three numbers

    def low(self) -> Key:
        """The lowest version of this partial: ``1.2`` -> ``1.2.0-0``, ``1.2.3`` -> itself."""
        n = _pad(self.numbers)
        if self.prerelease:
            return (*n, _pre_key(self.prerelease))
        return (*n, _RELEASE if len(self.numbers) >= 3 else _LOWEST)

    def above(self) -> Key:
        """The first version above every version of this partial: ``1.2`` -> ``1.3.0-0``."""
        n = list(self.numbers)
        n[-1] += 1
        return (*_pad(tuple(n)), _LOWEST)

    def exact(self) -> bool:
        return len(self.numbers) >= 3 and not self.wild

    def names(self) -> tuple[int, int, int, int] | None:
        return _pad(self.numbers) if self.prerelease else None


def _partial(text: str, where: str) -> _Partial:
    m = _PARTIAL.match(text)
    if m is None:
        raise InputError(f"invalid semver range {where!r}: {text!r} is not a version")
    numbers: list[int] = []
    wild = False
    for g in ("n1", "n2", "n3", "n4"):
        part = m[g]
        if part is None or not part.isdigit():
            wild = part is not None
            break
        numbers.append(int(part))
    pre = _split_pre(m["pre"] or "")
    if pre and len(numbers) < 3:
        raise InputError(f"invalid semver range {where!r}: a prerelease needs a full version "
                         f"in {text!r}")
    return _Partial(tuple(numbers), pre, wild)


def _upper_caret(p: _Partial) -> Key:
    n = p.numbers
    if n[0] > 0 or len(n) == 1:
        return (n[0] + 1, 0, 0, 0, _LOWEST)
    if n[1] > 0 or len(n) == 2:
        return (0, n[1] + 1, 0, 0, _LOWEST)
    return (0, 0, n[2] + 1, 0, _LOWEST)


def _comparators(op: str, p: _Partial, where: str) -> tuple[Comparator, ...]:
    names = p.names()
    if not p.numbers:  # "*", "x", ">=*" ...
        return (_NOTHING,) if op in (">", "<", "!=") else ()
    low = Comparator(op=Op.GE, key=p.low(), names=names)
    if op in ("", "=", "=="):
        if p.exact():
            return (Comparator(op=Op.EQ, key=p.low(), names=names),)
        return (low, Comparator(op=Op.LT, key=p.above()))
    if op in ("~", "~>"):
        n = p.numbers
        top = (n[0] + 1, 0, 0, 0, _LOWEST) if len(n) == 1 else (n[0], n[1] + 1, 0, 0, _LOWEST)
        return (low, Comparator(op=Op.LT, key=top))
    if op == "^":
        return (low, Comparator(op=Op.LT, key=_upper_caret(p)))
    if op == ">=":
        return (low,)
    if op == ">":
        key = p.low() if p.exact() else p.above()
        return (Comparator(op=Op.GT if p.exact() else Op.GE, key=key, names=names),)
    if op == "<":
        return (Comparator(op=Op.LT, key=p.low(), names=names),)
    if op == "<=":
        if p.exact():
            return (Comparator(op=Op.LE, key=p.low(), names=names),)
        return (Comparator(op=Op.LT, key=p.above()),)
    if op == "!=":
        if not p.exact():
            raise InputError(f"invalid semver range {where!r}: != needs a full version")
        return (Comparator(op=Op.NE, key=p.low(), names=names),)
    raise AssertionError(op)  # pragma: no cover - _OPERAND admits only the ops above


def _parse_set(text: str, where: str) -> tuple[Comparator, ...]:
    text = text.strip()
    hyphen = _HYPHEN.match(text)
    if hyphen:
        a, b = _partial(hyphen["a"], where), _partial(hyphen["b"], where)
        lower = () if not a.numbers else (Comparator(op=Op.GE, key=a.low(), names=a.names()),)
        if not b.numbers:
            upper: tuple[Comparator, ...] = ()
        elif b.exact():
            upper = (Comparator(op=Op.LE, key=b.low(), names=b.names()),)
        else:
            upper = (Comparator(op=Op.LT, key=b.above()),)
        return lower + upper
    out: list[Comparator] = []
    # an operator takes the version after its spaces, never across a comma ("<, 1" is refused)
    for token in _OP_SPACE.sub(r"\1", text).replace(",", " ").split():
        m = _OPERAND.match(token)
        assert m is not None  # the pattern matches every string
        out.extend(_comparators(m["op"] or "", _partial(m["ver"], where), where))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    """A parsed range: alternatives (``||``) of comparator sets (all must hold)."""

    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse ``text``; raise :class:`InputError` naming the range when it is invalid."""
        if len(text) > 1000:
            raise InputError("invalid semver range: longer than 1000 characters")
        alternatives = tuple(_parse_set(part, text) for part in text.split("||"))
        return cls(text=text, alternatives=alternatives)

    def contains(self, version: Version, *, prerelease: bool = False) -> bool:
        """Whether ``version`` satisfies the range (npm's rule for prereleases)."""
        key = version.key
        pre = version.is_prerelease and not prerelease
        for comparators in self.alternatives:
            for c in comparators:
                if not c._test(key, c.key):
                    break
            else:
                if not pre or any(c.names == version.release for c in comparators):
                    return True
        return False

    def __str__(self) -> str:
        return self.text


ANY = Range(text="*", alternatives=((),))
