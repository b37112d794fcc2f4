"""The pull request comment grammar: ``parse(body) -> tuple[Command, ...]`` (pure).

A command is a line of its own that starts with ``/promoter <command> [args]``, or one of the
short forms ``/promote``, ``/rollback``, ``/hold`` and ``/unhold``. Several commands in one
comment run in order. Lines inside fenced code blocks (```` ``` ```` or ``~~~``), indented code
(four spaces or a tab) and ``>`` quotes are never commands, so quoting someone's command does
not run it again.

Commands (``[...]`` optional)::

    promote [ENV] [IMAGE[=VERSION]]      rollback [ENV] [IMAGE] [--to VERSION]
    hold [ENV]     unhold [ENV]          rebase     recreate
    ignore this version | ignore major | ignore minor | ignore IMAGE
    status         help

A word the grammar does not know, or arguments it cannot read, give :class:`Unknown` (answered
with the help text). Which environment or image a bare word means is decided later, with the
config (:mod:`promoter.flows.comment`); parsing never needs it.

Bounds, for comments written to hurt (GitLab accepts 1 MB): parsing is linear in the comment;
at most :data:`MAX_COMMANDS` commands of one comment run, the rest are answered with one
:class:`Unknown` that counts them; an argument longer than :data:`MAX_WORD` characters makes
its command :class:`Unknown` (no environment, image or version is that long), and an
:class:`Unknown` quotes at most :data:`MAX_QUOTE` characters of its line. :func:`fit_reply`
cuts a reply to what a forge accepts (:data:`MAX_REPLY`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

PREFIX = "/promoter"
MAX_COMMANDS = 10  # per comment; the rest are counted, not run
MAX_WORD = 256  # characters of one argument (a reference is at most 255, a tag 128)
MAX_QUOTE = 120  # characters of a line an Unknown quotes back
MAX_REPLY = 60_000  # characters of one reply (GitHub takes 65,536, GitLab 1,000,000)
SHORT_FORMS = ("promote", "rollback", "hold", "unhold")  # "/promote" is "/promoter promote"


@dataclass(frozen=True, slots=True, kw_only=True)
class Promote:
    """Promote this PR (no arguments: let the forge merge it) or IMAGE into ENV."""

    env: str | None = None
    image: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollback:
    env: str | None = None
    image: str | None = None
    to: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """Hold an environment, or this pull request when ``env`` is None."""

    env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unhold:
    env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rebase:
    """Rebuild this PR's branch on its base; ``recreate`` also drops anyone else's commits."""

    recreate: bool = False


class IgnoreWhat(enum.Enum):
    VERSION = "version"  # the exact version this PR proposes
    MAJOR = "major"  # every version of the proposed major (2.x.y)
    MINOR = "minor"  # every version of the proposed minor (2.1.x)
    IMAGE = "image"  # the image altogether


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignore:
    """Remember to skip versions (of this PR's image, or ``image``) in later polls."""

    what: IgnoreWhat
    image: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Help:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Unknown:
    """A line that looked like a command but is not one; ``reason`` says why, in one line."""

    text: str
    reason: str


Command: TypeAlias = Promote | Rollback | Hold | Unhold | Rebase | Ignore | Status | Help | Unknown

HELP = """\
promoter understands these commands, each on a line of its own:

- `/promote`: merge this pull request once the forge's own checks and reviews pass
- `/promote [ENV] [IMAGE[=VERSION]]`: promote IMAGE (at VERSION) into ENV
- `/rollback [ENV] [IMAGE] [--to VERSION]`: move ENV back to what it ran before (or VERSION)
- `/hold [ENV]`, `/unhold [ENV]`: stop (or resume) this pull request, or promotions into ENV
- `/promoter rebase`: rebuild this pull request's branch on its base
- `/promoter recreate`: rebuild the branch from scratch, dropping commits made by hand
- `/promoter ignore this version` (or `ignore major`, `ignore minor`, `ignore IMAGE`):
  later polls skip it
- `/promoter status`: where every image runs, and what is pending
- `/promoter help`: this text
"""


class _Bad(Exception):
    """Arguments the grammar cannot read; the message is the one-line reason."""


_Parser: TypeAlias = Callable[[Sequence[str]], Command]


def _quote(line: str) -> str:
    return line if len(line) <= MAX_QUOTE else f"{line[:MAX_QUOTE - 3]}..."


def _at_most(args: Sequence[str], n: int, usage: str) -> None:
    if len(args) > n:
        raise _Bad(f"too many arguments; usage: {usage}")
    for a in args:
        if a.startswith("-"):
            raise _Bad(f"unknown option {a}; usage: {usage}")


def _promote(args: Sequence[str]) -> Command:
    usage = "promote [ENV] [IMAGE[=VERSION]]"
    _at_most(args, 2, usage)
    env = image = version = None
    rest = list(args)
    if rest and "=" not in rest[0] and len(rest) == 2:
        env = rest.pop(0)
    if rest:
        word = rest.pop(0)
        if "=" in word:
            image, _, version = word.partition("=")
            if not image or not version:
                raise _Bad(f"{word!r}: expected IMAGE=VERSION; usage: {usage}")
        elif env is None:
            env = word  # one bare word: an environment (or an image; the flow decides)
        else:
            image = word
    if rest:
        raise _Bad(f"too many arguments; usage: {usage}")
    return Promote(env=env, image=image, version=version)


def _rollback(args: Sequence[str]) -> Command:
    usage = "rollback [ENV] [IMAGE] [--to VERSION]"
    words: list[str] = []
    to: str | None = None
    it = iter(args)
    for a in it:
        if a == "--to":
            to = next(it, None)
            if not to or to.startswith("-"):
                raise _Bad(f"--to needs a VERSION; usage: {usage}")
        elif a.startswith("--to="):
            to = a.removeprefix("--to=")
            if not to:
                raise _Bad(f"--to needs a VERSION; usage: {usage}")
        else:
            words.append(a)
    _at_most(words, 2, usage)
    return Rollback(env=words[0] if words else None, image=words[1] if len(words) > 1 else None,
                    to=to)


def _hold(args: Sequence[str]) -> Command:
    _at_most(args, 1, "hold [ENV]")
    return Hold(env=args[0] if args else None)


def _unhold(args: Sequence[str]) -> Command:
    _at_most(args, 1, "unhold [ENV]")
    return Unhold(env=args[0] if args else None)


def _no_args(cmd: Command, name: str) -> _Parser:
    def parse(args: Sequence[str]) -> Command:
        _at_most(args, 0, name)
        return cmd

    return parse


_IGNORE_PHRASES: dict[tuple[str, ...], IgnoreWhat] = {
    ("this", "version"): IgnoreWhat.VERSION,
    ("version",): IgnoreWhat.VERSION,
    ("major",): IgnoreWhat.MAJOR,
    ("this", "major", "version"): IgnoreWhat.MAJOR,
    ("minor",): IgnoreWhat.MINOR,
    ("this", "minor", "version"): IgnoreWhat.MINOR,
    ("this", "image"): IgnoreWhat.IMAGE,
    ("this", "dependency"): IgnoreWhat.IMAGE,
}


def _ignore(args: Sequence[str]) -> Command:
    usage = "ignore this version | ignore major | ignore minor | ignore IMAGE"
    what = _IGNORE_PHRASES.get(tuple(a.lower() for a in args))
    if what is not None:
        return Ignore(what=what)
    if len(args) == 1 and not args[0].startswith("-") and args[0].lower() != "this":
        return Ignore(what=IgnoreWhat.IMAGE, image=args[0])
    raise _Bad(f"usage: {usage}")


# command word -> parser of its arguments; the one table of the grammar
PARSERS: dict[str, _Parser] = {
    "promote": _promote,
    "rollback": _rollback,
    "hold": _hold,
    "unhold": _unhold,
    "rebase": _no_args(Rebase(), "rebase"),
    "recreate": _no_args(Rebase(recreate=True), "recreate"),
    "ignore": _ignore,
    "status": _no_args(Status(), "status"),
    "help": _no_args(Help(), "help"),
}

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_QUOTE = re.compile(r"^ {0,3}>")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_LEADS = frozenset("/`~")  # what a stripped command or fence line starts with
_TRIGGER = re.compile(r"^/(?P<word>[A-Za-z][A-Za-z-]*)(?=\s|$)(?P<rest>.*)$")


def _command_lines(body: str) -> Iterator[str]:
    """The lines of ``body`` outside code blocks and quotes, stripped."""
    fence: str | None = None
    for line in body.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] not in _LEADS:
            continue  # neither a command nor a fence: most lines, decided at once
        m = _FENCE.match(line)
        if fence is not None:
            if m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence) \
                    and not m["info"].strip():
                fence = None
            continue
        if m and not (m["fence"][0] == "`" and "`" in m["info"]):
            fence = m["fence"]
            continue
        if _QUOTE.match(line) or _INDENTED.match(line):
            continue
        yield stripped


def parse_line(line: str) -> Command | None:
    """The command on one (stripped) line, or None when the line is not a command."""
    m = _TRIGGER.match(line)
    if m is None:
        return None
    word, args = m["word"].lower(), m["rest"].split()
    if word in SHORT_FORMS:
        name = word
    elif word == PREFIX[1:]:
        if not args:
            return Help()
        name, args = args[0].lower(), args[1:]
    else:
        return None
    parser = PARSERS.get(name)
    if parser is None:
        return Unknown(text=_quote(line), reason=f"unknown command {_quote(repr(name))}")
    long = next((len(a) for a in args if len(a) > MAX_WORD), None)
    if long is not None:
        return Unknown(text=_quote(line), reason=f"an argument of {long} characters; at most "
                                                 f"{MAX_WORD} make sense")
    try:
        return parser(args)
    except _Bad as e:
        return Unknown(text=_quote(line), reason=str(e))  # words are short: so is str(e)


def _looks_like_command(line: str) -> bool:
    """Whether :func:`parse_line` would give a command, without reading its arguments."""
    m = _TRIGGER.match(line)
    return m is not None and m["word"].lower() in (*SHORT_FORMS, PREFIX[1:])


def parse(body: str) -> tuple[Command, ...]:
    """Every command in a comment, in order (see the module docstring for the grammar); past
    :data:`MAX_COMMANDS`, one :class:`Unknown` that says how many more were not run."""
    found: list[Command] = []
    more = 0
    for line in _command_lines(body):
        if len(found) < MAX_COMMANDS:
            cmd = parse_line(line)
            if cmd is not None:
                found.append(cmd)
        elif _looks_like_command(line):
            more += 1
    if more:
        found.append(Unknown(text=f"(and {more} more)", reason=(
            f"at most {MAX_COMMANDS} commands of one comment run; {more} more were not run")))
    return tuple(found)


def fit_reply(text: str, limit: int = MAX_REPLY) -> str:
    """``text``, or its start cut at a line end so that it fits in ``limit`` characters with a
    last line saying so (a code block left open is closed first)."""
    if len(text) <= limit:
        return text
    note = f"\n\n(reply cut at {limit:,} characters; run fewer commands at once to see all)\n"
    head = text[:max(0, limit - len(note) - 4)]
    cut = head.rfind("\n")
    head = head[:cut] if cut > 0 else head
    if sum(1 for line in head.split("\n") if line.lstrip().startswith("```")) % 2:
        head += "\n```"
    return head + note


def describe(cmd: Command) -> str:
    """The command as a user would type it, for replies (``/promote prod api=1.2.3``)."""
    match cmd:
        case Promote(env=env, image=image, version=version):
            target = f"{image}={version}" if version else image
            return " ".join(["/promote", *(w for w in (env, target) if w)])
        case Rollback(env=env, image=image, to=to):
            return " ".join(["/rollback", *(w for w in (env, image) if w),
                             *(("--to", to) if to else ())])
        case Hold(env=env):
            return " ".join(["/hold", *((env,) if env else ())])
        case Unhold(env=env):
            return " ".join(["/unhold", *((env,) if env else ())])
        case Rebase(recreate=recreate):
            return f"{PREFIX} {'recreate' if recreate else 'rebase'}"
        case Ignore(what=what, image=image):
            if image:
                return f"{PREFIX} ignore {image}"
            phrase = what.value if what in (IgnoreWhat.MAJOR, IgnoreWhat.MINOR) else \
                f"this {what.value}"
            return f"{PREFIX} ignore {phrase}"
        case Status():
            return f"{PREFIX} status"
        case Help():
            return f"{PREFIX} help"
        case Unknown(text=text):
            return text
    raise AssertionError(cmd)  # pragma: no cover
