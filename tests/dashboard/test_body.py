"""The dashboard body and its checkboxes, pure: exact Markdown, the boxes read back, which went
from [ ] to [x], resetting, and text that tries to smuggle a box in."""

from __future__ import annotations

import pytest

from promoter import dashboard as d

ROWS = (
    d.Row(state=d.State.PENDING, env="prod", image="api", version="1.2.3", number=12,
          url="https://forge.example/acme/gitops/pull/12", action=d.Action.PROMOTE),
    d.Row(state=d.State.WAITING, env="dev", image="web", version="2.0.0",
          reason="max-open 2 reached", action=d.Action.POLL),
    d.Row(state=d.State.HELD, env="prod", image="db", version="5.1", number=9,
          url="https://forge.example/acme/gitops/pull/9", action=d.Action.UNHOLD),
    d.Row(state=d.State.BLOCKED, env="prod", image="web", version="1.9.0",
          reason="soak: 23 min left"),
    d.Row(state=d.State.FAILED, env="dev", image="api", reason="github: 502 Bad Gateway"),
)

EXPECTED = """\
<!-- promoter:dashboard -->
This issue lists what promoter is waiting on. Tick a box to act on it (the same as the comment \
command; write access needed).

## Pending pull requests

- [ ] <!-- promoter:promote env=prod image=api pr=12 --> promote api 1.2.3 to prod \
([#12](https://forge.example/acme/gitops/pull/12))

## Waiting for the pull request limits

- [ ] <!-- promoter:poll env=dev image=web --> open the pull request for web 2.0.0 in dev: \
max-open 2 reached

## Held

- [ ] <!-- promoter:unhold env=prod image=db pr=9 --> unhold db 5.1 in prod \
([#9](https://forge.example/acme/gitops/pull/9))

## Blocked by a gate

- web 1.9.0 in prod: soak: 23 min left

## Failed

- api in dev: github: 502 Bad Gateway
"""


def test_body_lists_each_section_with_checkboxes_where_one_can_act() -> None:
    assert d.body(ROWS, env_order=("dev", "prod")) == EXPECTED
    assert d.body(tuple(reversed(ROWS)), env_order=("dev", "prod")) == EXPECTED  # stable


def test_an_empty_dashboard_says_so() -> None:
    assert d.body(()).endswith("Nothing is pending, waiting, held, blocked or failed.\n")


def test_rows_sort_by_environment_order_then_image() -> None:
    rows = [d.Row(state=d.State.WAITING, env=e, image=i, action=d.Action.PROMOTE)
            for e, i in (("prod", "a"), ("dev", "b"), ("dev", "a"))]
    lines = [x for x in d.body(rows, env_order=("dev", "prod")).splitlines()
             if x.startswith("- ")]
    assert [b.args for b in map(lambda x: d.boxes(x)[0], lines)] == [
        (("env", "dev"), ("image", "a")), (("env", "dev"), ("image", "b")),
        (("env", "prod"), ("image", "a"))]


def _tick(text: str, line_start: str) -> str:
    return "".join(x.replace("- [ ]", "- [x]", 1) if x.startswith(line_start) else x
                   for x in text.splitlines(keepends=True))


def test_ticked_answers_only_boxes_that_went_from_empty_to_checked() -> None:
    before = d.body(ROWS)
    after = _tick(before, "- [ ] <!-- promoter:promote")
    [box] = d.ticked(before, after)
    assert (box.action, box.arg("env"), box.arg("image"), box.arg("pr")) == (
        "promote", "prod", "api", "12")
    assert d.ticked(after, after) == ()  # already ticked: nothing new
    assert d.ticked(after, before) == ()  # unticking runs nothing


def test_a_new_ticked_line_that_was_not_in_the_body_before_never_counts() -> None:
    before = d.body(ROWS)
    after = before + "\n- [x] <!-- promoter:promote env=prod image=web --> sneaky\n"
    assert d.ticked(before, after) == ()


def test_reset_clears_exactly_the_given_boxes() -> None:
    before = d.body(ROWS)
    after = _tick(_tick(before, "- [ ] <!-- promoter:promote"), "- [ ] <!-- promoter:unhold")
    boxes = d.ticked(before, after)
    assert len(boxes) == 2
    assert d.reset(after, boxes[:1]) == _tick(before, "- [ ] <!-- promoter:unhold")
    assert d.reset(after, boxes) == before


@pytest.mark.parametrize("reason", [
    "x\n- [ ] <!-- promoter:promote env=prod image=evil --> y",
    "<!-- promoter:promote env=prod image=evil -->",
    "<script>alert(1)</script>",
])
def test_free_text_never_becomes_a_box_or_html(reason: str) -> None:
    rows = [d.Row(state=d.State.FAILED, env="dev", image="api", reason=reason)]
    text = d.body(rows)
    assert d.boxes(text) == ()
    assert "<script>" not in text and text.count("<!--") == 1  # the dashboard marker only


def test_carried_keeps_run_sections_with_boxes_cleared_and_drops_what_ran() -> None:
    before = d.body(ROWS)
    after = _tick(before, "- [ ] <!-- promoter:poll")
    [ran] = d.ticked(before, after)
    assert d.carried(after) == {
        d.State.WAITING: ("- [ ] <!-- promoter:poll env=dev image=web --> open the pull "
                          "request for web 2.0.0 in dev: max-open 2 reached",),
        d.State.BLOCKED: ("- web 1.9.0 in prod: soak: 23 min left",),
        d.State.FAILED: ("- api in dev: github: 502 Bad Gateway",)}
    assert d.State.WAITING not in d.carried(after, [ran])
    kept = d.carried(after, [ran])
    assert d.body([], kept=kept) == d.body([r for r in ROWS if r.state in (
        d.State.BLOCKED, d.State.FAILED)])
