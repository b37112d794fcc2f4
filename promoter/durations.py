"""The one duration grammar of promoter: config (``soak``, ``min-age``), ``--interval``, tags'
``--min-age``.

A duration is one or more ``NUMBER UNIT`` parts, units in falling order and each at most once::

    90s   5m   1h30m   1.5h   2d   1w   1w2d   0s

Units: ``w`` (7 days), ``d``, ``h``, ``m``, ``s``. A number is digits with an optional decimal
fraction (``1.5h``); the whole must come to a whole number of seconds, and at most
:data:`MAX` (ten years). No spaces, no signs, lower-case units only. :func:`format_duration`
writes the shortest spelling of this grammar, so ``parse(format(d)) == d``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from promoter.errors import InputError, Problem

__all__ = ["EXAMPLES", "MAX", "PATTERN", "DurationError", "format_duration", "parse_duration"]

UNITS: tuple[tuple[str, int], ...] = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60),
                                      ("s", 1))
_SECONDS = dict(UNITS)
MAX = timedelta(days=3650)
EXAMPLES = "90s, 5m, 1h30m, 1.5h, 2d or 1w"

_NUM = r"[0-9]+(\.[0-9]+)?"
#: the grammar as one regular expression (ECMA-262 and Python alike), used by the JSON Schema;
#: it cannot say "whole seconds" or "at most MAX", which :func:`parse_duration` adds
PATTERN = "^" + "".join(f"({_NUM}{unit})?" for unit, _ in UNITS) + "$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]+)|.")
_MAX_TEXT = 64


class DurationError(InputError):
    """A text that is not a duration; ``reason`` says what is wrong, without the key."""

    def __init__(self, text: str, reason: str, *, key: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.key = key
        shown = text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
        problem = Problem(key=key, message=f"invalid duration {shown!r}: {reason}; "
                                           f"write e.g. {EXAMPLES}")
        super().__init__(str(problem), problems=(problem,))


def parse_duration(text: str, *, key: str | None = None) -> timedelta:
    """``text`` (``1h30m``) as a timedelta; :class:`DurationError` naming ``key`` otherwise."""

    def fail(reason: str) -> DurationError:
        return DurationError(text, reason, key=key)

    if not isinstance(text, str):
        raise fail("expected a text such as 1h30m")
    if not text:
        raise fail("it is empty")
    if len(text) > _MAX_TEXT:
        raise fail(f"longer than {_MAX_TEXT} characters")
    total = Decimal(0)
    last = -1
    pos = 0
    for m in _PART.finditer(text):
        number, unit = m.group(1), m.group(2)
        if number is None:
            ch = m.group(0)
            what = repr(ch)
            if ch.isspace():
                raise fail(f"a space at position {m.start() + 1}: write it without spaces")
            if ch in "+-":
                raise fail(f"{what} at position {m.start() + 1}: durations have no sign")
            if ch.isdigit() or ch == ".":
                raise fail(f"a number without a unit at position {pos + 1} "
                           "(units: w, d, h, m, s)")
            raise fail(f"expected a number at position {m.start() + 1}, not {what}")
        pos = m.end()
        if unit not in _SECONDS:
            hint = f" (write {unit.lower()})" if unit.lower() in _SECONDS else ""
            raise fail(f"unknown unit {unit!r}{hint}; units are w, d, h, m, s")
        rank = [u for u, _ in UNITS].index(unit)
        if rank <= last:
            earlier = [u for u, _ in UNITS][last]
            raise fail(f"{unit!r} after {earlier!r}: give each unit once, largest first")
        last = rank
        try:
            total += Decimal(number) * _SECONDS[unit]
        except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
            raise fail(f"{number!r} is not a number") from None
    if total != total.to_integral_value():
        raise fail("it is not a whole number of seconds")
    if total > Decimal(int(MAX.total_seconds())):
        raise fail("longer than ten years")
    return timedelta(seconds=int(total))


def format_duration(value: timedelta) -> str:
    """The shortest spelling of ``value`` in the grammar (``5400s`` -> ``1h30m``; 0 -> ``0s``).

    ValueError for a negative value or one that is not whole seconds.
    """
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {value}")
    if value.microseconds:
        raise ValueError(f"not a whole number of seconds: {value}")
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
