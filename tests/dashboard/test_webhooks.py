"""Issue edits into jobs, pure: the real ``issues.edited`` example (altered only where the
dashboard needs it) and GitLab ``Issue Hook`` updates."""

from __future__ import annotations

import json

import pytest

from promoter.errors import InputError
from promoter.webhooks import (
    IssueEdit,
    Job,
    JobKind,
    Reject,
    github_job,
    gitlab_job,
    job_from_json,
    job_to_json,
)
from tests.serve.worlds import example, examples_available

needs_examples = pytest.mark.skipif(not examples_available(),
                                    reason="@octokit/webhooks-examples not installed")


@needs_examples
def test_github_issues_edited_with_a_body_change_is_a_dashboard_job() -> None:
    payload = example("issues", "edited")
    payload["changes"] = {"body": {"from": "- [ ] x"}}
    payload["issue"]["body"] = "- [x] x"
    job = github_job("issues", "d1", payload)
    assert job is not None and job.kind is JobKind.DASHBOARD
    assert job.repo == payload["repository"]["full_name"]
    assert job.edit == IssueEdit(number=payload["issue"]["number"],
                                 editor=payload["sender"]["login"], before="- [ ] x",
                                 after="- [x] x")


@needs_examples
@pytest.mark.parametrize("alter", ["title-only", "opened", "pull-request"])
def test_other_issue_events_are_nothing_to_do(alter: str) -> None:
    payload = example("issues", "edited")
    payload["changes"] = {"body": {"from": "- [ ] x"}}
    if alter == "title-only":
        payload["changes"] = {"title": {"from": "old"}}
    elif alter == "opened":
        payload["action"] = "opened"
    else:
        payload["issue"]["pull_request"] = {"url": "https://api.github.com/x"}
    assert github_job("issues", "d1", payload) is None


@needs_examples
def test_an_edit_without_a_sender_is_refused() -> None:
    payload = example("issues", "edited")
    payload["changes"] = {"body": {"from": ""}}
    del payload["sender"]
    with pytest.raises(Reject) as info:
        github_job("issues", "d1", payload)
    assert info.value.status == 400
    assert str(info.value) == "issues d1: sender.login is missing or not a str"


def _hook(action: str = "update", changes: object = None) -> dict[str, object]:
    return {"object_kind": "issue", "user": {"username": "alice", "bot": False},
            "project": {"path_with_namespace": "grp/gitops"},
            "object_attributes": {"iid": 4, "action": action},
            "changes": {"description": {"previous": "- [ ] x", "current": "- [x] x"}}
            if changes is None else changes}


def test_gitlab_issue_hook_update_of_the_description_is_a_dashboard_job() -> None:
    job = gitlab_job("Issue Hook", "d2", _hook())
    assert job is not None and (job.kind, job.repo) == (JobKind.DASHBOARD, "grp/gitops")
    assert job.edit == IssueEdit(number=4, editor="alice", before="- [ ] x", after="- [x] x")


@pytest.mark.parametrize("hook", [_hook(action="open"), _hook(changes={"title": {}})])
def test_gitlab_issue_hooks_without_a_description_edit_are_nothing_to_do(
        hook: dict[str, object]) -> None:
    assert gitlab_job("Issue Hook", "d2", hook) is None


def test_a_dashboard_job_survives_the_queues_json_and_a_bad_edit_is_named() -> None:
    job = Job(kind=JobKind.DASHBOARD, delivery="d3", source="github", repo="acme/gitops",
              edit=IssueEdit(number=4, editor="alice", before="- [ ] x", after="- [x] x"))
    assert job_from_json(json.loads(json.dumps(job_to_json(job)))) == job
    doc = job_to_json(job)
    doc["edit"]["after"] = 7
    with pytest.raises(InputError, match="job edit: after is missing or not a str"):
        job_from_json(doc)
