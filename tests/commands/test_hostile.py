"""Comments written to hurt (issue 15, items 4 and 5): the grammar stays linear in time and
memory on megabyte comments, runs at most MAX_COMMANDS commands, never quotes a flood back,
and a reply always fits a forge. Hypothesis fuzzes it under time and memory bounds."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promoter.commands import (
    MAX_COMMANDS,
    MAX_QUOTE,
    MAX_REPLY,
    MAX_WORD,
    Hold,
    Promote,
    Unknown,
    describe,
    fit_reply,
    parse,
)

MB = 1_000_000
SECONDS = 10.0  # linear work on a megabyte takes well under a second; quadratic, hours
MEMORY = 64 * MB  # peak allocation while parsing a megabyte


def _bounded(fn: Callable[[], object]) -> object:
    """``fn()``, asserting it stays within the time bound, then (run again under tracemalloc,
    which slows it down several times) within the memory bound."""
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"took {elapsed:.1f}s"
    tracemalloc.start()
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY, f"peaked at {peak / MB:.0f} MB"
    return result


@pytest.mark.parametrize("body", [
    "/promote " + "a" * MB,  # the probe: one long word
    "/promote" + "a" * MB,
    "/promote " + "a " * (MB // 2),
    "/promoter " + "x" * MB,
    "/rollback --to " * (MB // 15),
    "/promote\n" * (MB // 9),
    "\n" * MB,
    "```\n" * (MB // 4),
    "> /promote\n" * (MB // 11),
    "/" + "a-" * (MB // 2) + "!",
    "/promote " + "=" * MB,
], ids=lambda b: repr(b[:16]))
def test_a_megabyte_comment_parses_in_linear_time_and_memory(body: str) -> None:
    cmds = _bounded(lambda: parse(body))
    assert isinstance(cmds, tuple) and len(cmds) <= MAX_COMMANDS + 1
    assert all(len(describe(c)) <= MAX_QUOTE for c in cmds if isinstance(c, Unknown))


def test_a_long_word_is_refused_not_quoted_back() -> None:
    (cmd,) = parse("/promote " + "a" * MB)
    assert isinstance(cmd, Unknown)
    assert cmd.reason == f"an argument of {MB} characters; at most {MAX_WORD} make sense"
    assert cmd.text == "/promote " + "a" * (MAX_QUOTE - 12) + "..."
    assert parse("/promote prod " + "a" * MAX_WORD) == (Promote(env="prod", image="a" * MAX_WORD),)


def test_an_unknown_command_word_is_quoted_short() -> None:
    (cmd,) = parse("/promoter " + "x" * 5000)
    assert isinstance(cmd, Unknown)
    assert len(cmd.text) == MAX_QUOTE and len(cmd.reason) < MAX_QUOTE + 20


def test_ten_thousand_commands_run_ten_and_count_the_rest() -> None:
    cmds = parse("/hold\n" * 10_000)
    assert cmds[:MAX_COMMANDS] == (Hold(),) * MAX_COMMANDS
    assert cmds[MAX_COMMANDS:] == (Unknown(
        text="(and 9990 more)",
        reason=f"at most {MAX_COMMANDS} commands of one comment run; 9990 more were not run"),)


def test_the_cap_counts_only_what_would_be_commands() -> None:
    body = "/hold\n" * MAX_COMMANDS + "/deploy\nplease /promote\n> /promote\n```\n/hold\n```\n"
    assert parse(body) == (Hold(),) * MAX_COMMANDS
    assert parse(body + "/promoter bogus\n")[-1].reason == (  # type: ignore[union-attr]
        f"at most {MAX_COMMANDS} commands of one comment run; 1 more were not run")


def test_fit_reply_keeps_a_short_reply() -> None:
    assert fit_reply("@alice\n- `/hold`: done\n") == "@alice\n- `/hold`: done\n"


def test_fit_reply_cuts_at_a_line_and_closes_a_code_block() -> None:
    reply = "@alice\n- `/promoter status`:\n\n```text\n" + "dev: api 1.0.0\n" * 100_000
    cut = fit_reply(reply)
    assert len(cut) <= MAX_REPLY
    assert cut.startswith("@alice\n- `/promoter status`:\n\n```text\ndev: api 1.0.0\n")
    assert cut.endswith("dev: api 1.0.0\n```\n\n(reply cut at 60,000 characters; run fewer "
                        "commands at once to see all)\n")


@given(st.text(max_size=MAX_REPLY * 2), st.integers(min_value=200, max_value=MAX_REPLY))
@settings(max_examples=50, deadline=timedelta(seconds=2))
def test_fit_reply_always_fits(text: str, limit: int) -> None:
    cut = fit_reply(text, limit)
    assert len(cut) <= limit
    assert cut == text or cut.endswith("run fewer commands at once to see all)\n")


# --- fuzzing: comments built from the grammar's own pieces, hostile runs among them ----------

_PIECES = st.sampled_from([
    "/promote", "/promoter", "/rollback", "/hold", "/unhold", "/PROMOTE", " ", "  ", "\t",
    "\n", "\r\n", "\r", "\u2028", "\x85", "> ", "    ", "```", "~~~", "````", "`", "=", "--to",
    "--to=", "-", "prod", "api", "api=1.2.3", "ignore", "this", "version", "rebase", "status",
    "help", "recreate", "\x00", "é", "$(id)", "::error::x",
])
_RUNS = st.builds(lambda piece, n: piece * n, _PIECES, st.integers(min_value=1, max_value=2000))
COMMENTS = st.lists(st.one_of(_PIECES, _RUNS, st.text(max_size=40)), max_size=60).map("".join)


@given(COMMENTS)
@settings(max_examples=300, deadline=timedelta(seconds=2))  # linear: a few ms each
def test_fuzzed_comments_parse_within_bounds(body: str) -> None:
    cmds = parse(body)
    assert len(cmds) <= MAX_COMMANDS + 1
    for cmd in cmds:
        text = describe(cmd)
        assert "\n" not in text and "\r" not in text
        assert len(text) <= MAX_QUOTE + 2 * MAX_WORD + 40
        if isinstance(cmd, Unknown):
            assert cmd.reason and len(cmd.text) <= MAX_QUOTE


@given(COMMENTS)
@settings(max_examples=100, deadline=timedelta(seconds=3))
def test_fuzzed_comments_stay_within_memory(body: str) -> None:
    tracemalloc.start()
    try:
        parse(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * len(body) + 256_000


@given(COMMENTS)
@settings(max_examples=200, deadline=timedelta(seconds=2))
def test_quoting_a_fuzzed_comment_runs_nothing(body: str) -> None:
    quoted = "\n".join("> " + line for line in body.splitlines())
    assert parse(quoted) == ()
