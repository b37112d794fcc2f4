"""The one duration grammar: what it accepts, what it refuses and why, and that formatting
and parsing are inverse."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.config import schema_text
from promoter.durations import (
    MAX,
    PATTERN,
    DurationError,
    format_duration,
    parse_duration,
)
from promoter.errors import InputError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("2d", 172800),
    ("1w", 604800), ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5), ("0s", 0),
    ("0.5m", 30), ("1.25h", 4500), ("36h", 129600), ("3650d", 3650 * 86400),
    ("007m", 420), ("1.5h30m", 7200),
])
def test_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "it is empty"),
    ("5", "a number without a unit at position 1 (units: w, d, h, m, s)"),
    ("1h30", "a number without a unit at position 3 (units: w, d, h, m, s)"),
    ("1.h", "a number without a unit at position 1 (units: w, d, h, m, s)"),
    ("5 m", "a number without a unit at position 1 (units: w, d, h, m, s)"),
    ("5m ", "a space at position 3: write it without spaces"),
    ("-5m", "'-' at position 1: durations have no sign"),
    ("+5m", "'+' at position 1: durations have no sign"),
    ("5M", "unknown unit 'M' (write m); units are w, d, h, m, s"),
    ("5ms", "unknown unit 'ms'; units are w, d, h, m, s"),
    ("1y", "unknown unit 'y'; units are w, d, h, m, s"),
    ("30m1h", "'h' after 'm': give each unit once, largest first"),
    ("1h1h", "'h' after 'h': give each unit once, largest first"),
    ("h", "expected a number at position 1, not 'h'"),
    ("1h/2", "expected a number at position 3, not '/'"),
    ("0.5s", "it is not a whole number of seconds"),
    ("0.001m", "it is not a whole number of seconds"),
    ("3651d", "longer than ten years"),
    ("99999999999999999999w", "longer than ten years"),
    ("1" * 65 + "s", "longer than 64 characters"),
])
def test_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text, key="gates.soak")
    assert info.value.reason == reason
    shown = repr(text) if len(text) <= 64 else repr(text[:64] + "...")
    assert str(info.value) == (f"gates.soak: invalid duration {shown}: {reason}; "
                               "write e.g. 90s, 5m, 1h30m, 1.5h, 2d or 1w")
    assert isinstance(info.value, InputError)  # exit 2 through the CLI's one handler
    (problem,) = info.value.problems
    assert (problem.key, str(problem)) == ("gates.soak", str(info.value))


def test_without_a_key_the_message_starts_with_the_problem() -> None:
    with pytest.raises(DurationError, match=r"^invalid duration 'x': "):
        parse_duration("x")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (1, "1s"), (59, "59s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"),
    (86400, "1d"), (604800, "1w"), (604801, "1w1s"), (9 * 86400, "1w2d"),
])
def test_format(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize("value", [timedelta(seconds=-1), timedelta(milliseconds=1500)])
def test_format_refuses_what_the_grammar_cannot_say(value: timedelta) -> None:
    with pytest.raises(ValueError):
        format_duration(value)


@given(st.integers(min_value=0, max_value=int(MAX.total_seconds())))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert re.fullmatch(PATTERN, text)
    assert parse_duration(text) == value


_UNIT = st.sampled_from("wdhms")
_NUMBER = st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3})?", fullmatch=True)


@given(st.lists(st.tuples(_NUMBER, _UNIT), min_size=1, max_size=5))
def test_the_schema_pattern_and_the_parser_agree(parts: list[tuple[str, str]]) -> None:
    """Every text the schema's pattern admits parses, unless it is fractional seconds or too
    long (what a pattern cannot say); every text it refuses, the parser refuses too."""
    text = "".join(n + u for n, u in parts)
    try:
        parsed: timedelta | None = parse_duration(text)
    except DurationError as e:
        parsed = None
        reason = e.reason
    if re.fullmatch(PATTERN, text):
        assert parsed is not None or reason in ("it is not a whole number of seconds",
                                                "longer than ten years")
    else:
        assert parsed is None
    if parsed is not None:  # the canonical spelling means the same
        assert parse_duration(format_duration(parsed)) == parsed


@given(st.text(max_size=12))
def test_any_text_parses_or_gives_a_duration_error(text: str) -> None:
    try:
        parse_duration(text)
    except DurationError as e:
        assert "\n" not in e.reason


def test_the_schema_uses_this_grammar() -> None:
    duration = json.loads(schema_text())["$defs"]["duration"]
    assert duration["pattern"] == PATTERN


def test_the_config_reads_durations_with_this_grammar() -> None:
    """``1.5h`` is an hour and a half, not five hours (the old parser dropped the '.')."""
    from promoter.config import parse_config

    cfg = parse_config("environments: [dev, {name: prod, gates: {soak: 1.5h}}]\n"
                       "images: [{repository: a, policy: {min-age: 1w2d},"
                       " targets: {dev: [{file: a}]}}]\n")
    assert cfg.environment("prod").gates.soak == timedelta(hours=1, minutes=30)
    assert cfg.image("a").policy.min_age == timedelta(days=9)
    with pytest.raises(InputError) as info:
        parse_config("environments: [dev]\n"
                     "images: [{repository: a, targets: {dev: [{file: a}]}}]\n"
                     "defaults: {policy: {min-age: 0.5s}}\n")
    assert str(info.value) == (
        ".promoter.yaml:3:30: defaults.policy.min-age: it is not a whole number of seconds; "
        "write a duration such as 90s, 5m, 1h30m, 1.5h, 2d or 1w")
