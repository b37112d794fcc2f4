"""The one payload walker: pure, iterative, and shared by serve and the comment entry points."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from promoter import webhooks
from promoter.errors import InputError
from promoter.flows import comment
from promoter.webhooks import Reject, at, github_event, gitlab_note_event, need, parse_json


def test_comment_flow_and_serve_share_the_walker() -> None:
    assert comment.github_event is webhooks.github_event
    assert comment.gitlab_note_event is webhooks.gitlab_note_event
    assert comment.CommentEvent is webhooks.CommentEvent


def test_webhooks_imports_no_edge() -> None:
    tree = ast.parse(Path(webhooks.__file__).read_text(encoding="utf-8"))
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names <= {"__future__", "enum", "functools", "json", "collections.abc", "dataclasses",
                     "typing", "urllib.parse", "promoter.errors"}, names


def test_at_walks_any_depth_without_recursion() -> None:
    doc: Any = 1
    for _ in range(50_000):
        doc = {"a": doc}
    assert at(doc, ".".join(["a"] * 50_000)) == 1
    assert at(doc, "a.b") is None and at([1], "a") is None and at("x", "a") is None


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "e: issue is missing or not a dict"),
    ({"issue": {"number": True}}, "e: issue.number is missing or not a int"),
    ({"issue": {"number": 1}, "comment": {"id": 2, "user": {"login": 3}}},
     "e: comment.user.login is missing or not a str"),
])
def test_need_names_the_field(payload: Any, message: str) -> None:
    with pytest.raises(InputError) as e:
        github_event(payload, what="e")
    assert str(e.value) == message


def test_events_read_untyped_fields_as_their_defaults() -> None:
    gh = github_event({"action": "created", "issue": {"number": 1, "pull_request": {"u": 1}},
                       "comment": {"id": 2, "body": 7, "user": {"login": "a", "type": []}}})
    assert (gh.body, gh.author_is_bot, gh.on_pull_request, gh.edited) == ("", False, True, False)
    gl = gitlab_note_event({"object_attributes": {"id": 3, "noteable_type": "Issue"},
                            "user": {"username": "b", "bot": 1}})
    assert (gl.number, gl.author_is_bot, gl.on_pull_request) == (0, True, False)


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"[" * 200_000, "application/json", "the JSON payload is nested too deeply"),
    (b"payload=" + b"%5B" * 200_000, "application/x-www-form-urlencoded",
     "the JSON payload is nested too deeply"),
    (b"\xff", "application/json", "the body is not a JSON payload"),
    (b"a=1", "application/x-www-form-urlencoded", "the body is not a JSON payload"),
])
def test_parse_json_rejects_in_one_line(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(Reject) as e:
        parse_json(body, ctype)
    assert (e.value.status, str(e.value)) == (400, message)


def test_need_rejects_bool_for_int() -> None:
    with pytest.raises(InputError):
        need({"n": False}, "n", int, "x")
    assert need({"n": 0}, "n", int, "x") == 0
