"""The comment grammar: a table of (comment, commands), plus properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.commands import (
    Help,
    Hold,
    Ignore,
    IgnoreWhat,
    Promote,
    Rebase,
    Rollback,
    Status,
    Unhold,
    Unknown,
    describe,
    parse,
)

CASES: list[tuple[str, tuple[object, ...]]] = [
    ("/promote", (Promote(),)),
    ("/promote prod", (Promote(env="prod"),)),
    ("/promote prod api", (Promote(env="prod", image="api"),)),
    ("/promote prod api=1.2.3", (Promote(env="prod", image="api", version="1.2.3"),)),
    ("/promote api=1.2.3", (Promote(image="api", version="1.2.3"),)),
    ("  /promote   prod  ", (Promote(env="prod"),)),
    ("/PROMOTE prod", (Promote(env="prod"),)),
    ("/promoter promote staging", (Promote(env="staging"),)),
    ("/promoter PROMOTE staging", (Promote(env="staging"),)),
    ("/rollback", (Rollback(),)),
    ("/rollback prod", (Rollback(env="prod"),)),
    ("/rollback prod api --to 1.2.2", (Rollback(env="prod", image="api", to="1.2.2"),)),
    ("/rollback prod --to=1.2.2", (Rollback(env="prod", to="1.2.2"),)),
    ("/promoter rollback --to 1.0.0 prod api", (Rollback(env="prod", image="api", to="1.0.0"),)),
    ("/hold", (Hold(),)),
    ("/hold prod", (Hold(env="prod"),)),
    ("/unhold", (Unhold(),)),
    ("/promoter unhold prod", (Unhold(env="prod"),)),
    ("/promoter rebase", (Rebase(),)),
    ("/promoter recreate", (Rebase(recreate=True),)),
    ("/promoter ignore this version", (Ignore(what=IgnoreWhat.VERSION),)),
    ("/promoter ignore major", (Ignore(what=IgnoreWhat.MAJOR),)),
    ("/promoter ignore this major version", (Ignore(what=IgnoreWhat.MAJOR),)),
    ("/promoter ignore minor", (Ignore(what=IgnoreWhat.MINOR),)),
    ("/promoter ignore This Minor Version", (Ignore(what=IgnoreWhat.MINOR),)),
    ("/promoter ignore api", (Ignore(what=IgnoreWhat.IMAGE, image="api"),)),
    ("/promoter ignore this image", (Ignore(what=IgnoreWhat.IMAGE),)),
    ("/promoter status", (Status(),)),
    ("/promoter help", (Help(),)),
    ("/promoter", (Help(),)),
    # several commands run in order; prose around them is ignored
    ("LGTM, thanks!\n/hold\n\nlater:\r\n/promote prod\n/promoter status",
     (Hold(), Promote(env="prod"), Status())),
    # not commands: inside text, other slash words, longer words
    ("please /promote prod", ()),
    ("/promoted prod", ()),
    ("/promoters", ()),
    ("/deploy prod", ()),
    ("/ promote", ()),
    ("promote prod", ()),
    ("", ()),
    # quotes and code blocks are never commands
    ("> /promote prod\n/hold", (Hold(),)),
    ("  > /promote prod", ()),
    (">/promote prod", ()),
    ("```\n/promote prod\n```\n/unhold", (Unhold(),)),
    ("~~~sh\n/promote prod\n~~~\n", ()),
    ("````\n```\n/promote prod\n```\n````\n/hold", (Hold(),)),
    ("```\n/promote prod\n", ()),  # an unclosed fence runs to the end
    ("    /promote prod", ()),
    ("\t/promote prod", ()),
    ("```python\nx\n~~~\n/promote\n```\n/status-like", ()),
    # unknown commands and bad arguments
    ("/promoter deploy prod", (Unknown(text="/promoter deploy prod",
                                       reason="unknown command 'deploy'"),)),
    ("/promote a b c", (Unknown(text="/promote a b c",
                                reason="too many arguments; usage: promote [ENV] "
                                       "[IMAGE[=VERSION]]"),)),
    ("/promote prod api=", (Unknown(text="/promote prod api=",
                                    reason="'api=': expected IMAGE=VERSION; usage: promote [ENV] "
                                           "[IMAGE[=VERSION]]"),)),
    ("/rollback prod --to", (Unknown(text="/rollback prod --to", reason="--to needs a VERSION; "
                             "usage: rollback [ENV] [IMAGE] [--to VERSION]"),)),
    ("/hold a b", (Unknown(text="/hold a b", reason="too many arguments; usage: hold [ENV]"),)),
    ("/promoter rebase now", (Unknown(text="/promoter rebase now",
                                      reason="too many arguments; usage: rebase"),)),
    ("/promoter ignore", (Unknown(text="/promoter ignore", reason="usage: ignore this version |"
                                  " ignore major | ignore minor | ignore IMAGE"),)),
    ("/promoter ignore this", (Unknown(text="/promoter ignore this", reason="usage: ignore this "
                                       "version | ignore major | ignore minor | ignore IMAGE"),)),
    ("/promote --force", (Unknown(text="/promote --force", reason="unknown option --force; "
                                  "usage: promote [ENV] [IMAGE[=VERSION]]"),)),
]


@pytest.mark.parametrize(("body", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_parse(body: str, expected: tuple[object, ...]) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize(("cmd", "text"), [
    (Promote(), "/promote"),
    (Promote(env="prod", image="api", version="1.2.3"), "/promote prod api=1.2.3"),
    (Rollback(env="prod", image="api", to="1.0"), "/rollback prod api --to 1.0"),
    (Hold(env="prod"), "/hold prod"),
    (Unhold(), "/unhold"),
    (Rebase(recreate=True), "/promoter recreate"),
    (Ignore(what=IgnoreWhat.MAJOR), "/promoter ignore major"),
    (Ignore(what=IgnoreWhat.VERSION), "/promoter ignore this version"),
    (Ignore(what=IgnoreWhat.IMAGE, image="api"), "/promoter ignore api"),
    (Status(), "/promoter status"),
    (Help(), "/promoter help"),
])
def test_describe_reads_back_as_the_same_command(cmd: object, text: str) -> None:
    assert describe(cmd) == text  # type: ignore[arg-type]
    assert parse(text) == (cmd,)


@given(st.text())
def test_any_text_parses_without_error(body: str) -> None:
    for cmd in parse(body):
        assert not isinstance(cmd, Unknown) or cmd.reason


@given(st.text(max_size=200))
def test_quoted_text_is_never_a_command(body: str) -> None:
    quoted = "\n".join("> " + line for line in body.splitlines())
    assert parse(quoted) == ()
