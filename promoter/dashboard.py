"""The dashboard issue's body, pure: rows in, Markdown out, and back from Markdown the boxes
someone ticked (Renovate's Dependency Dashboard).

The body starts with :data:`MARKER` and lists, in sections, what promoter knows after a run:
pending pull requests (with links), waiting ones (``pull-requests.max-open`` /
``max-per-hour``), held ones (hold label or ``/hold``), blocked ones (which gate failed and
why) and failures. Pending, waiting and held rows carry a checkbox whose hidden marker says what
ticking it asks for::

    - [ ] <!-- promoter:promote env=prod image=api pr=12 --> promote api 1.2.3 to prod (#12)
    - [ ] <!-- promoter:unhold env=prod image=api pr=12 --> unhold api 1.2.3 in prod (#12)
    - [ ] <!-- promoter:poll env=dev image=api --> open the pull request for api 1.2.3 in dev

:func:`ticked` compares the body before and after an edit and answers the boxes that went from
``[ ]`` to ``[x]`` (a box that was not there before never counts, so writing a new ticked line
does nothing); :func:`reset` clears boxes again. Only a marker right after the box at the start
of a line counts, and free text never carries one (:func:`_safe`), so no reason or error text
can smuggle a box in. The body holds no timestamp: it changes only when what it lists changes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MARKER = "<!-- promoter:dashboard -->"
LABEL = "promoter/dashboard"
MAX_BODY = 60_000  # characters (GitHub takes 65,536); rows beyond are counted, not listed

_BOX = re.compile(r"^- \[(?P<mark>[ xX])\] <!-- promoter:(?P<action>[a-z]+)"
                  r"(?P<args>(?: [a-z]+=[A-Za-z0-9._/@:+-]+)*) -->", re.MULTILINE)
_ARG = re.compile(r" ([a-z]+)=(\S+)")


class State(enum.StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    HELD = "held"
    BLOCKED = "blocked"
    FAILED = "failed"


class Action(enum.StrEnum):
    """What ticking a row asks for: the comment command of the same name, or a poll."""

    PROMOTE = "promote"  # /promote ENV IMAGE
    UNHOLD = "unhold"  # /unhold on the held pull request
    POLL = "poll"  # a poll of ENV and IMAGE that the limits do not hold back


SECTIONS: Mapping[State, str] = {
    State.PENDING: "Pending pull requests",
    State.WAITING: "Waiting for the pull request limits",
    State.HELD: "Held",
    State.BLOCKED: "Blocked by a gate",
    State.FAILED: "Failed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the dashboard. ``action`` None: no checkbox (blocked and failed rows)."""

    state: State
    env: str
    image: str = ""
    version: str = ""
    reason: str = ""
    number: int | None = None  # the pull request
    url: str = ""
    action: Action | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Box:
    """A checkbox read back from a body: its action and arguments (``env``, ``image``,
    ``pr``) as the marker spells them."""

    action: str
    args: tuple[tuple[str, str], ...]
    checked: bool

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.action, self.args)

    def arg(self, name: str) -> str | None:
        return dict(self.args).get(name)


def _safe(text: str) -> str:
    """Free text on one line, never a comment (marker) or raw HTML."""
    return " ".join(text.replace("<", "&lt;").replace(">", "&gt;").split())


_WORD = re.compile(r"[A-Za-z0-9._/@:+-]+")


def _marker(row: Row) -> str:
    assert row.action is not None
    args = [("env", row.env), ("image", row.image)]
    if row.number is not None:
        args.append(("pr", str(row.number)))
    words = "".join(f" {k}={v}" for k, v in args if v and _WORD.fullmatch(v))
    return f"<!-- promoter:{row.action.value}{words} -->"


def _link(row: Row) -> str:
    if row.number is None:
        return ""
    return f" ([#{row.number}]({row.url}))" if row.url.startswith("https://") or \
        row.url.startswith("http://") else f" (#{row.number})"


def _line(row: Row) -> str:
    what = " ".join(x for x in (row.image, row.version) if x)
    words = {Action.PROMOTE: f"promote {what} to {row.env}",
             Action.UNHOLD: f"unhold {what} in {row.env}",
             Action.POLL: f"open the pull request for {what} in {row.env}"}
    if row.action is not None:
        text = words[row.action]
    else:
        text = f"{what} in {row.env}" if what and row.env else what or row.env
    reason = f": {row.reason}" if row.reason else ""
    box = f"- [ ] {_marker(row)} " if row.action is not None else "- "
    return box + _safe(text + reason) + _link(row)


def order(rows: Sequence[Row], env_order: Sequence[str]) -> list[Row]:
    """Rows in environment order, then image, then pull request number (stable output)."""
    rank = {name: i for i, name in enumerate(env_order)}
    return sorted(rows, key=lambda r: (rank.get(r.env, len(rank)), r.env, r.image,
                                       r.number or 0, r.reason))


CARRIED = (State.WAITING, State.BLOCKED, State.FAILED)  # known only after a run


def carried(text: str, drop: Sequence[Box] = ()) -> dict[State, tuple[str, ...]]:
    """The lines of the sections of an earlier body that only a run knows (waiting, blocked,
    failed), boxes cleared and without the rows of ``drop``: a refresh between runs keeps
    them."""
    titles = {f"## {SECTIONS[s]}": s for s in CARRIED}
    gone = {b.key for b in drop}
    out: dict[State, list[str]] = {}
    state: State | None = None
    for line in (text or "").splitlines():
        if line.startswith("## "):
            state = titles.get(line)
        elif state is not None and line.startswith("- "):
            found = boxes(line)
            if found and found[0].key in gone:
                continue
            out.setdefault(state, []).append(reset(line, found) if found else line)
    return {k: tuple(v) for k, v in out.items()}


def body(rows: Sequence[Row], *, env_order: Sequence[str] = (),
         kept: Mapping[State, Sequence[str]] | None = None) -> str:
    """The Markdown body of the dashboard issue (deterministic for the same rows); ``kept``
    lines (from :func:`carried`) stand in for a section that has no rows."""
    out = [MARKER, "This issue lists what promoter is waiting on. Tick a box to act on it "
           "(the same as the comment command; write access needed).", ""]
    size = sum(len(x) + 1 for x in out)
    left = 0
    kept = kept or {}
    for state, title in SECTIONS.items():
        mine = list(dict.fromkeys(order([r for r in rows if r.state is state], env_order)))
        lines = [_line(r) for r in mine] if mine else list(kept.get(state, ()))
        if not lines:
            continue
        out += [f"## {title}", ""]
        for line in lines:
            if size + len(line) + 1 > MAX_BODY - 200:
                left += 1
                continue
            out.append(line)
            size += len(line) + 1
        out.append("")
    if not rows and not any(kept.values()):
        out += ["Nothing is pending, waiting, held, blocked or failed.", ""]
    if left:
        out += [f"... and {left} more rows that do not fit.", ""]
    return "\n".join(out)


def boxes(text: str) -> tuple[Box, ...]:
    """The checkboxes of a body, in order."""
    return tuple(Box(action=m["action"], args=tuple(_ARG.findall(m["args"])),
                     checked=m["mark"] != " ")
                 for m in _BOX.finditer(text or ""))


def ticked(before: str, after: str) -> tuple[Box, ...]:
    """The boxes unticked in ``before`` and ticked in ``after`` (each once, in order)."""
    was = {b.key for b in boxes(before) if not b.checked}
    seen: set[object] = set()
    out = []
    for b in boxes(after):
        if b.checked and b.key in was and b.key not in seen:
            seen.add(b.key)
            out.append(b)
    return tuple(out)


def reset(text: str, which: Sequence[Box]) -> str:
    """``text`` with the boxes ``which`` cleared again; nothing else changes."""
    keys = {b.key for b in which}

    def clear(m: re.Match[str]) -> str:
        key = (m["action"], tuple(_ARG.findall(m["args"])))
        if key not in keys or m["mark"] == " ":
            return m[0]
        return m[0][:3] + " " + m[0][4:]

    return _BOX.sub(clear, text)
