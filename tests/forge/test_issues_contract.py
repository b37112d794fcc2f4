"""The Issues port and ``created_since``, run against every forge implementation (memory, and
PyGithub / python-gitlab against the fake servers), so the dashboard behaves the same on all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoter.errors import ForgeError
from tests.forge.harness import BOT, Harness

pytestmark = pytest.mark.integration


def test_an_issue_is_created_found_by_label_and_rewritten_in_place(harness: Harness) -> None:
    forge = harness.forge
    assert forge.find_issue(label="promoter/dashboard") is None
    made = forge.create_issue(title="promoter dashboard", body="<!-- m -->\nfirst",
                              labels=("promoter/dashboard",))
    assert (made.title, made.body, made.labels, made.author, made.is_open) == (
        "promoter dashboard", "<!-- m -->\nfirst", ("promoter/dashboard",), BOT, True)
    assert made.url.endswith(f"/{made.number}")
    forge.create_issue(title="unrelated", body="x")
    assert forge.find_issue(label="promoter/dashboard") == made
    assert forge.get_issue(made.number) == made
    same = forge.update_issue(made.number, body="<!-- m -->\nfirst")
    assert same == made
    changed = forge.update_issue(made.number, body="<!-- m -->\nsecond", title="Promotions")
    assert (changed.number, changed.body, changed.title) == (made.number, "<!-- m -->\nsecond",
                                                             "Promotions")
    assert forge.get_issue(made.number) == changed


def test_a_missing_issue_is_a_forge_error(harness: Harness) -> None:
    with pytest.raises(ForgeError):
        harness.forge.get_issue(4242)


def test_pull_requests_are_never_found_as_issues(harness: Harness) -> None:
    harness.branch("promoter/dev/app", {"dev/app.yaml": "image: app:1\n"})
    pr = harness.forge.create(head="promoter/dev/app", base="main", title="t", body="b")
    harness.forge.add_labels(pr.number, ("promoter/dashboard",))
    assert harness.forge.find_issue(label="promoter/dashboard") is None


def test_created_since_lists_recent_pull_requests_in_any_state(harness: Harness) -> None:
    forge = harness.forge
    start = datetime.now(UTC) - timedelta(minutes=1)
    numbers = []
    for head in ("promoter/dev/a", "promoter/dev/b"):
        harness.branch(head, {"dev/app.yaml": f"image: app:{head}\n"})
        numbers.append(forge.create(head=head, base="main", title="t", body="b").number)
    forge.close(numbers[0])
    recent = forge.created_since(start)
    assert [p.number for p in recent] == numbers[::-1]  # newest first
    assert all(p.created_at is not None and p.created_at >= start for p in recent)
    assert forge.created_since(datetime.now(UTC) + timedelta(minutes=5)) == ()
