"""Deliveries into jobs, pure: real @octokit/webhooks-examples payloads, GitLab hooks built by
the fake GitLab from its state, GHCR registry_package (schema-validated) and registry
notifications."""

from __future__ import annotations

import json
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from promoter.serve import (
    Job,
    JobKind,
    Reject,
    github_job,
    github_package,
    gitlab_job,
    registry_pushes,
)
from tests.forge import openapi
from tests.serve import payloads
from tests.serve.worlds import _examples, example, examples_available
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import commit_to

needs_examples = pytest.mark.skipif(not examples_available(),
                                    reason="@octokit/webhooks-examples not installed")


@needs_examples
def test_issue_comment_examples_on_issues_are_not_on_a_pr() -> None:
    for action in ("created", "edited", "deleted"):
        payload = example("issue_comment", action)
        job = github_job("issue_comment", "d1", payload)
        assert job is not None and job.comment is not None
        assert job.kind is JobKind.COMMENT and job.repo == "Codertocat/Hello-World"
        assert not job.comment.on_pull_request  # none of the examples is a PR comment
        assert job.comment.edited is (action != "created")
        assert job.comment.author == payload["comment"]["user"]["login"]


@needs_examples
def test_issue_comment_on_a_pr() -> None:
    payload = example("issue_comment", "created")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    payload["comment"]["body"] = "/promote"
    job = github_job("issue_comment", "d1", payload)
    assert job is not None and job.comment is not None
    assert (job.comment.on_pull_request, job.comment.body, job.comment.number) == (
        True, "/promote", payload["issue"]["number"])


@needs_examples
def test_pull_request_examples_promote_only_when_merged() -> None:
    closed = example("pull_request", "closed")
    assert github_job("pull_request", "d", closed) is None  # closed without merging
    closed["pull_request"]["merged"] = True
    assert github_job("pull_request", "d", closed) == Job(
        kind=JobKind.PROMOTE, delivery="d", source="github", repo="Codertocat/Hello-World",
        branch="master")
    assert github_job("pull_request", "d", example("pull_request", "opened")) is None


@needs_examples
def test_push_examples_promote_branches_not_tags_or_deletions() -> None:
    pushes = _all("push")
    jobs = [github_job("push", "d", p) for p in pushes]
    assert {j.branch for j in jobs if j is not None} == {"master"}
    assert all(j is None for p, j in zip(pushes, jobs, strict=True)
               if p["ref"].startswith("refs/tags/") or p.get("deleted"))


def _all(name: str) -> list[dict[str, Any]]:
    return _examples()[name]


@needs_examples
def test_package_examples_are_npm_and_start_nothing() -> None:
    for p in _all("package"):
        assert github_job("package", "d", p) is None


@pytest.mark.skipif(not openapi.available(), reason="@octokit/openapi not installed")
def test_registry_package_is_valid_and_names_the_image_and_tag() -> None:
    payload = payloads.registry_package("Acme", "api", "1.2.3")
    assert openapi.schema_errors("webhook-registry-package-published", payload) == []
    assert github_package(payload) == (("ghcr.io/Acme/api", "1.2.3"),)
    job = github_job("registry_package", "d", payload)
    assert job is not None and job.images == (("ghcr.io/Acme/api", "1.2.3"),)
    # the same in a "package" event; without the URL, namespace and name make the image
    package: dict[str, Any] = dict(payload["registry_package"])
    package["package_version"] = {**package["package_version"], "package_url": ""}
    assert github_package({"action": "published", "package": package}) == (
        ("ghcr.io/acme/api", "1.2.3"),)
    untagged = payloads.registry_package("acme", "api", "")
    assert github_job("registry_package", "d", untagged) is None


def test_registry_notifications() -> None:
    assert registry_pushes(payloads.distribution_push("127.0.0.1:5000", "team/api", "1.2")) == (
        ("127.0.0.1:5000/team/api", "1.2"),)
    assert registry_pushes(payloads.docker_hub_push("acme/api", "v3")) == (
        ("docker.io/acme/api", "v3"),)
    assert registry_pushes(payloads.harbor_push("harbor.example", "lib", "api", "2.0")) == (
        ("harbor.example/lib/api", "2.0"),)
    pull = payloads.distribution_push("h", "r", "t")
    pull["events"][0]["action"] = "pull"
    assert registry_pushes(pull) == ()
    assert registry_pushes({"events": ["x", {"target": 3}]}) == ()
    assert registry_pushes([1, 2]) == ()


def test_gitlab_hooks_from_the_fake(tmp_path: Path) -> None:
    with FakeGitLab(tmp_path) as gl:
        gl.add_project("grp/gitops", files={"a.yaml": "x: 1\n"})
        gl.add_user("alice")
        commit_to(gl.project("grp/gitops").bare, "topic", {"a.yaml": "x: 2\n"}, base="main")
        mr = gl.project("grp/gitops")
        status, body, _ = gl.dispatch(
            "POST", f"/api/v4/projects/{mr.id}/merge_requests",
            json.dumps({"source_branch": "topic", "target_branch": "main", "title": "t"}).encode(),
            _auth(gl.add_user("grp")))
        assert status == 201, body
        iid = body["iid"] if isinstance(body, dict) else json.loads(body)["iid"]
        nid = gl.add_note("grp/gitops", iid, "alice", "/hold")
        job = gitlab_job("Note Hook", "k1", gl.note_event("grp/gitops", iid, nid))
        assert job is not None and job.comment is not None
        assert (job.repo, job.comment.number, job.comment.comment_id, job.comment.author,
                job.comment.body) == ("grp/gitops", iid, nid, "alice", "/hold")
        sys_note = gl.add_note("grp/gitops", iid, "alice", "merged", system=True)
        job = gitlab_job("Note Hook", "k2", gl.note_event("grp/gitops", iid, sys_note))
        assert job is not None and job.comment is not None and job.comment.system
        merged = gl.merge_request_event("grp/gitops", iid, action="merge")
        assert gitlab_job("Merge Request Hook", "k3", merged) == Job(
            kind=JobKind.PROMOTE, delivery="k3", source="gitlab", repo="grp/gitops",
            branch="main")
        opened = gl.merge_request_event("grp/gitops", iid, action="open")
        assert gitlab_job("Merge Request Hook", "k4", opened) is None


def _auth(token: str) -> Message:
    m = Message()
    m["PRIVATE-TOKEN"] = token
    return m


@pytest.mark.parametrize(("event", "payload", "message"), [
    ("issue_comment", [], "the payload is not a JSON object"),
    ("issue_comment", {"issue": {"number": 1}}, "issue_comment d: comment.id is missing or not "
                                                "a int"),
    ("issue_comment", {"issue": {"number": True}, "comment": {"id": 1}},
     "issue_comment d: issue.number is missing or not a int"),
])
def test_malformed_github_payloads_are_rejected_with_one_line(event: str, payload: Any,
                                                              message: str) -> None:
    with pytest.raises(Reject) as e:
        github_job(event, "d", payload)
    assert (e.value.status, str(e.value)) == (400, message)


def test_gitlab_push_hook() -> None:
    payload = {"object_kind": "push", "ref": "refs/heads/main", "after": "a" * 40,
               "project": {"path_with_namespace": "grp/gitops"}}
    job = gitlab_job("Push Hook", "k", payload)
    assert job is not None and (job.kind, job.branch) == (JobKind.PROMOTE, "main")
    assert gitlab_job("Push Hook", "k", {**payload, "after": "0" * 40}) is None  # deleted
    assert gitlab_job("Tag Push Hook", "k", payload) is None
