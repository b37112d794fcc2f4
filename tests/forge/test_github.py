"""GitHub specifics: App credentials, Enterprise URLs, git over the fake, and the fake's fidelity
(its routes are GitHub's operations, its quirks are GitHub's, and its validation can fail)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from promoter import secrets
from promoter.errors import ForgeError, ForgeRefused
from promoter.forge import (
    CommitStatus,
    MergeMethod,
    Permission,
    PRState,
    Reaction,
    StatusState,
    open_forge,
)
from tests.forge import github_graphql, openapi
from tests.forge.harness import BOT, GitHubHarness, check_server
from tests.servers.fake_github import (
    SPEC_PATH,
    FakeGitHub,
    event_schema,
    load_spec,
    signed_headers,
)
from tests.servers.git_http import Recorded, commit_to, git

pytestmark = pytest.mark.integration


def _client(fake: FakeGitHub, token: str) -> github.Github:
    return github.Github(base_url=fake.url, auth=github.Auth.Token(token), retry=0,
                         seconds_between_requests=None, seconds_between_writes=None)


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo
                                           ).decode()
    return private, public


def test_github_app_credentials_become_an_installation_token(
        gh_fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    repo = gh_fake.add_repo("apps/gitops")
    gh_fake.add_app(4242, "promoter-app", public, installations={"apps/gitops": 77})
    forge = open_forge("github", repo="apps/gitops", url=gh_fake.url, app_id=4242,
                       private_key=private, retries=0, throttle=False)
    assert forge.me() == "promoter-app[bot]"
    commit_to(repo.path, "promoter/dev", {"a.yaml": "image: app:2\n"}, base="main")
    pr = forge.create(head="promoter/dev", base="main", title="Promote", body="")
    assert pr.author == "promoter-app[bot]"
    tokens = [t for t, login in gh_fake.tokens.items() if login == "promoter-app[bot]"]
    assert tokens and all(secrets.redact(f"x {t} y") == "x *** y" for t in tokens)
    assert "PRIVATE KEY" not in secrets.redact(private)
    ops = [r.op for r in gh_fake.recorded[-12:]]
    assert "apps/get-repo-installation" in ops or "apps/create-installation-access-token" in ops


def test_a_github_app_without_an_installation_fails(gh_fake: FakeGitHub,
                                                     app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh_fake.add_repo("apps/elsewhere")
    gh_fake.add_app(4343, "other-app", public, installations={})
    with pytest.raises(ForgeError, match="404"):
        open_forge("github", repo="apps/elsewhere", url=gh_fake.url, app_id=4343,
                   private_key=private, retries=0, throttle=False)


@pytest.fixture(scope="module")
def ghe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("ghe"), spec=load_spec(),
                    prefix="/api/v3") as server:
        yield server


def test_github_enterprise_base_url(ghe: FakeGitHub) -> None:
    start = len(ghe.recorded)
    h = GitHubHarness(ghe, url=f"{ghe.url}/api/v3")
    h.branch("promoter/prod", {"prod.yaml": "image: app:3\n"})
    pr = h.forge.create(head="promoter/prod", base="main", title="Promote to prod", body="")
    h.forge.enable_auto_merge(pr.number)  # GraphQL at <host>/api/graphql
    cid = h.forge.comment(pr.number, "hello").id
    h.forge.react(pr.number, cid, Reaction.ROCKET)
    assert h.forge.get(pr.number).auto_merge is True
    assert {path for _, path, _ in ghe.requests} >= {"/api/graphql",
                                                     f"/api/v3/repos/{h.name}/pulls"}
    check_server(ghe, start, 0)


def test_git_push_over_the_fake_with_a_token(gh_fake: FakeGitHub, tmp_path: Path) -> None:
    h = GitHubHarness(gh_fake)
    work = tmp_path / "clone"
    git("clone", "-q", gh_fake.clone_url(h.name, h.token), str(work))
    (work / "dev.yaml").write_text("image: app:1.4.3\n")
    git("add", ".", cwd=work)
    git("commit", "-qm", "Promote app 1.4.3 to dev", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/promoter/dev/app", cwd=work)
    pushed = git("rev-parse", "HEAD", cwd=work)
    pr = h.forge.create(head="promoter/dev/app", base="main", title="t", body="")
    assert pr.head_sha == pushed
    bad = subprocess.run(["git", "-c", "credential.helper=", "ls-remote",
                          gh_fake.clone_url(h.name, "wrong-token")],
                         capture_output=True, text=True, env={"GIT_TERMINAL_PROMPT": "0",
                                                              "PATH": "/usr/bin:/bin"})
    assert bad.returncode != 0


def test_a_wrong_token_is_a_one_line_error_without_the_token(gh_fake: FakeGitHub) -> None:
    gh_fake.add_repo("acme/private")
    with pytest.raises(ForgeError) as info:
        open_forge("github", repo="acme/private", url=gh_fake.url,
                   token="ghp_definitely_wrong_0123", retries=0, throttle=False)
    assert "401" in str(info.value) and "ghp_definitely_wrong_0123" not in str(info.value)
    # GitHub answered and said no: fix the token (2), running again will not help
    assert isinstance(info.value, ForgeRefused)
    assert (info.value.exit_code, info.value.retryable) == (2, False)


def test_a_rate_limited_403_is_retryable_a_permission_403_is_not(gh_fake: FakeGitHub) -> None:
    token = gh_fake.add_user(BOT, token="ghp-test-token-403")
    gh_fake.add_repo("acme/limited")
    gh_fake.set_permission("acme/limited", BOT, "write")
    gh_fake.fail_next("GET", r"/repos/acme/limited$", status=403,
                      body={"message": "API rate limit exceeded for user."},
                      headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"})
    with pytest.raises(ForgeError) as limited:
        open_forge("github", repo="acme/limited", url=gh_fake.url, token=token, retries=0,
                   throttle=False).list_open()
    assert not isinstance(limited.value, ForgeRefused) and limited.value.retryable
    gh_fake.fail_next("GET", r"/repos/acme/limited$", status=403,
                      body={"message": "Resource not accessible by integration"})
    with pytest.raises(ForgeRefused) as denied:
        open_forge("github", repo="acme/limited", url=gh_fake.url, token=token, retries=0,
                   throttle=False).list_open()
    assert denied.value.exit_code == 2


def test_an_unknown_repository_is_not_found(gh_fake: FakeGitHub) -> None:
    token = gh_fake.add_user(BOT, token="ghp-test-token-unknown")
    with pytest.raises(ForgeError, match="404"):
        open_forge("github", repo="acme/nope", url=gh_fake.url, token=token, retries=0,
                   throttle=False)


def test_comments_follow_every_page(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    for i in range(105):
        h.comment_by(number, "alice", f"comment {i}")
    assert [c.body for c in h.forge.comments(number)] == [f"comment {i}" for i in range(105)]
    pages = [r for r in gh_fake.recorded[-2:] if r.op == "issues/list-comments"]
    assert [len(r.body) for r in pages] == [100, 5]  # promoter asks 100 a page


def test_check_run_carries_the_summary(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    sha = h.branch("promoter/x", {"x": "1"})
    for state in (StatusState.PENDING, StatusState.SUCCESS):
        h.forge.set_status(sha, CommitStatus(context="promoter/gates", state=state,
                                             description=state.value, summary=f"# {state}"))
    [run] = h.repo.check_runs.values()
    assert (run["name"], run["status"], run["conclusion"], run["output"]["summary"]) == \
        ("promoter/gates", "completed", "success", "# StatusState.SUCCESS")


def test_merge_then_find_reports_merged(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    pr = h.forge.create(head="promoter/x", base="main", title="t", body="")
    h.merge(pr.number)
    found = h.forge.find(head="promoter/x", base="main")
    assert found is not None and found.state is PRState.MERGED
    assert h.repo.resolve("refs/heads/main") == h.repo.pulls[pr.number].merge_commit_sha


# ------------------------------------------------------------------- the fake's fidelity ---
def test_a_head_without_owner_is_ignored_like_on_github(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    for head in ("promoter/a", "promoter/b"):
        h.branch(head, {"x": head})
        h.forge.create(head=head, base="main", title=head, body="")
    repo = _client(gh_fake, h.token).get_repo(h.name)
    assert len(list(repo.get_pulls(state="open", head="promoter/a"))) == 2
    owner = h.name.split("/")[0]
    assert [p.head.ref for p in repo.get_pulls(state="open", head=f"{owner}:promoter/a")] == \
        ["promoter/a"]


def test_unknown_endpoints_answer_501_and_are_recorded(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    start = len(gh_fake.unknown)
    repo = _client(gh_fake, h.token).get_repo(h.name)
    with pytest.raises(github.GithubException) as info:
        repo.get_releases()[0]
    assert info.value.status == 501
    assert gh_fake.unknown[start:] == [f"GET /repos/{h.name}/releases?per_page=30"] or \
        gh_fake.unknown[start:][0].startswith(f"GET /repos/{h.name}/releases")
    del gh_fake.unknown[start:]  # seen: the fixture would fail this test otherwise


def test_injected_failures_reach_the_client_then_stop(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    gh_fake.fail_next("GET", rf"/repos/{h.name}/pulls$", status=502, times=2)
    for _ in range(2):
        with pytest.raises(ForgeError, match="502"):
            h.forge.list_open()
    assert h.forge.list_open() == ()


def test_every_route_is_a_github_operation(spec_path: Path, tmp_path: Path) -> None:
    def example(m: re.Match[str]) -> str:
        name = m[1]
        return "a" * 40 if name.endswith("sha") else "12" if name.endswith(("_id", "number")) \
            else "x1"

    with FakeGitHub(tmp_path) as fake:
        routes = fake.routes()
    assert len(routes) > 30
    for method, rx, op, _ in routes:
        if op == "graphql":
            continue
        spec_method, template = openapi.operation(op)
        assert spec_method == method, op
        path = re.sub(r"\{([^}]+)\}", example, template)
        assert re.match(rx, path), f"{op}: {template} does not match {rx}"


def test_validation_catches_a_broken_response(gh_fake: FakeGitHub, spec_path: Path) -> None:
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    h.forge.create(head="promoter/x", base="main", title="t", body="")
    rec = next(r for r in reversed(gh_fake.recorded) if r.op == "pulls/create")
    assert openapi.errors(rec) == []
    body = copy.deepcopy(rec.body)
    del body["head"]
    body["state"] = "weird"
    body["user"]["id"] = "seven"
    broken = type(rec)(rec.op, rec.method, rec.path, rec.status, body)
    problems = "\n".join(openapi.errors(broken))
    assert "'head' is a required property" in problems
    assert "state: 'weird' is not one of" in problems
    assert "user/id: 'seven' is not of type 'integer'" in problems
    undocumented = type(rec)(rec.op, rec.method, rec.path, 299, body)
    assert "does not document status 299" in openapi.errors(undocumented)[0]


def test_validation_catches_a_bad_request_body(spec_path: Path) -> None:
    bad = Recorded("pulls/update", "PATCH", "/repos/o/r/pulls/1", 200, None,
                   request={"state": "merged", "title": 7})
    problems = "\n".join(openapi.request_errors(bad))
    assert "request pulls/update state: 'merged' is not one of ['open', 'closed']" in problems
    assert "request pulls/update title: 7 is not of type 'string'" in problems
    labels = Recorded("issues/add-labels", "POST", "/repos/o/r/issues/1/labels", 200, None,
                      request=["ok", 5])
    assert openapi.request_errors(labels) != []
    fine = Recorded("issues/add-labels", "POST", "/repos/o/r/issues/1/labels", 200, None,
                    request=["ok", "fine"])
    assert openapi.request_errors(fine) == []


@pytest.mark.parametrize(("name", "action"), [
    ("issue_comment", "created"), ("issue_comment", "edited"), ("pull_request", "opened"),
    ("pull_request", "synchronize"), ("pull_request", "closed"), ("pull_request", "labeled"),
])
def test_webhook_payloads_from_state_match_githubs_schemas(
        gh_fake: FakeGitHub, spec_path: Path, name: str, action: str) -> None:
    h = GitHubHarness(gh_fake)
    h.grant("alice", Permission.WRITE)
    h.branch("promoter/x", {"x": "1"})
    pr = h.forge.create(head="promoter/x", base="main", title="Promote", body="")
    cid = h.comment_by(pr.number, "alice", "/promote prod")
    payload = gh_fake.event(name, h.name, pr.number, action=action, comment_id=cid)
    assert openapi.schema_errors(event_schema(name, action), payload) == []
    if name == "issue_comment":
        assert payload["issue"]["pull_request"]["url"].endswith(f"/pulls/{pr.number}")
        assert (payload["comment"]["body"], payload["sender"]["login"]) == \
            ("/promote prod", "alice")
        assert payload["comment"]["author_association"] == "MEMBER"
    else:
        assert payload["pull_request"]["head"]["ref"] == "promoter/x"
    broken = {**payload, "repository": {"id": "x"}}
    assert openapi.schema_errors(event_schema(name, action), broken) != []


def test_signed_headers_use_githubs_documented_test_vector() -> None:
    headers = signed_headers("ping", b"Hello, World!", "It's a Secret to Everybody",
                             delivery="d-1")
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    assert (headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]) == ("ping", "d-1")


def test_more_of_the_rest_api_through_pygithub(gh_fake: FakeGitHub) -> None:
    """Endpoints later flows need (status pages, comment replies), each validated by the
    fixture against the OpenAPI description."""
    h = GitHubHarness(gh_fake)
    h.grant("alice", Permission.WRITE)
    sha = h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    h.forge.set_status(sha, CommitStatus(context="a", state=StatusState.PENDING))
    h.forge.set_status(sha, CommitStatus(context="a", state=StatusState.SUCCESS))
    client = _client(gh_fake, h.token)
    repo = client.get_repo(h.name)
    assert client.get_user("alice").login == "alice"
    pr = repo.get_pull(number)
    pr.create_review_request(reviewers=["alice"])
    users, teams = pr.get_review_requests()
    assert [u.login for u in users] == ["alice"] and list(teams) == []
    pr.as_issue().add_to_assignees("alice")
    assert [a.login for a in repo.get_issue(number).assignees] == ["alice"]
    assert [p.number for p in repo.get_commit(sha).get_pulls()] == [number]
    # PyGithub's Commit.get_statuses() uses the legacy GET /statuses/{sha}, which is not in the
    # OpenAPI description: the fake answers 501 to it on purpose
    _, listed = client.requester.requestJsonAndCheck("GET",
                                                     f"/repos/{h.name}/commits/{sha}/statuses")
    assert [s["state"] for s in listed] == ["success", "pending"]
    comment = pr.create_issue_comment("working on it")
    comment.edit("done")
    assert repo.get_issue(number).get_comment(comment.id).body == "done"
    repo.create_label("env:prod", "ff0000")
    with pytest.raises(github.GithubException) as info:
        repo.create_label("env:prod", "ff0000")
    assert info.value.status == 422
    assert repo.get_label("env:prod").name == "env:prod"
    assert [x.name for x in repo.get_labels()] == ["env:prod"]


def test_an_installation_token_given_as_token_acts_as_the_actions_bot(
        gh_fake: FakeGitHub) -> None:
    repo = gh_fake.add_repo("acme/actions")
    token = gh_fake.add_user("github-actions[bot]", token="ghs_actions_token_0123")
    gh_fake.set_permission("acme/actions", "github-actions[bot]", "write")
    forge = open_forge("github", repo="acme/actions", url=gh_fake.url, token=token, retries=0,
                       throttle=False)
    assert forge.me() == "github-actions[bot]"
    commit_to(repo.path, "promoter/dev", {"a": "1"}, base="main")
    assert forge.create(head="promoter/dev", base="main", title="t", body="").author == \
        "github-actions[bot]"


def test_a_read_only_token_gets_githubs_integration_error(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    gh_fake.read_only.add(h.token)
    try:
        with pytest.raises(ForgeError) as info:
            h.forge.create(head="promoter/x", base="main", title="t", body="")
    finally:
        gh_fake.read_only.discard(h.token)
    assert str(info.value) == (f"github: {h.name}: create pull request promoter/x -> main: "
                               "403 Resource not accessible by integration")


def test_only_the_latest_decisive_review_counts(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    for user, state in (("alice", "APPROVED"), ("alice", "COMMENTED"), ("bob", "APPROVED"),
                        ("bob", "CHANGES_REQUESTED"), ("carol", "CHANGES_REQUESTED"),
                        ("carol", "APPROVED"), ("dave", "APPROVED"), ("dave", "DISMISSED")):
        h.approve(number, user, state)
    assert h.forge.approvals(number) == ("alice", "carol")


def _examples(event: str) -> list[dict[str, Any]]:
    path = SPEC_PATH.parents[2] / "webhooks-examples" / "api.github.com" / "index.json"
    if not path.is_file():
        pytest.skip("@octokit/webhooks-examples is not installed (scripts/setup installs it)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [ex for entry in data if entry["name"] == event for ex in entry["examples"]]


@pytest.mark.parametrize(("name", "action", "objects"), [
    ("issue_comment", "created", ("issue", "comment", "repository", "sender")),
    ("pull_request", "opened", ("pull_request", "repository", "sender")),
])
def test_webhook_payloads_have_every_key_of_githubs_examples(
        gh_fake: FakeGitHub, name: str, action: str, objects: tuple[str, ...]) -> None:
    examples = [ex for ex in _examples(name) if ex.get("action") == action]
    assert examples
    h = GitHubHarness(gh_fake)
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    cid = h.comment_by(number, "alice", "/promote")
    payload = gh_fake.event(name, h.name, number, action=action, comment_id=cid)
    for example in examples:
        missing = set(example) - set(payload) - {"installation", "organization", "enterprise"}
        assert not missing, missing
        for key in objects:
            assert set(example[key]) <= set(payload[key]), key



def test_auto_merge_refused_by_the_repository_setting(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.repo.allow_auto_merge = False
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    with pytest.raises(ForgeError, match="Auto merge is not allowed for this repository"):
        h.forge.enable_auto_merge(number)
    assert h.forge.get(number).auto_merge is False


def test_auto_merge_waits_for_the_required_check_then_merges(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    sha = h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    h.forge.enable_auto_merge(number, method=MergeMethod.SQUASH)
    h.forge.set_status(sha, CommitStatus(context="ci/build", state=StatusState.PENDING))
    assert h.forge.get(number).state is PRState.OPEN
    h.forge.set_status(sha, CommitStatus(context="ci/build", state=StatusState.SUCCESS))
    pr = h.forge.get(number)
    assert (pr.state, pr.auto_merge) == (PRState.MERGED, False)
    merge_commit = h.repo.pulls[number].merge_commit_sha
    assert h.repo.git("rev-list", "--parents", "-n1", "main").split() == \
        [merge_commit, h.repo.git("rev-parse", "main~1")]  # squash: one parent


def test_protection_refuses_a_merge_without_approval(gh_fake: FakeGitHub) -> None:
    h = GitHubHarness(gh_fake)
    h.repo.required_contexts, h.repo.required_approvals = (), 1
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    client = _client(gh_fake, gh_fake.add_user(h.repo.owner))
    with pytest.raises(github.GithubException) as info:
        client.get_repo(h.name).get_pull(number).merge()
    assert info.value.status == 405
    assert "At least 1 approving review is required" in str(info.value.data)
    h.forge.enable_auto_merge(number)
    h.approve(number, "alice")
    assert h.forge.get(number).state is PRState.MERGED


def test_graphql_validation_can_fail() -> None:
    if not github_graphql.available():
        pytest.skip("@octokit/graphql-schema is not installed (scripts/setup installs it)")
    good = ("mutation Mutation($input: EnablePullRequestAutoMergeInput!) { "
            "enablePullRequestAutoMerge(input: $input) { clientMutationId } }")
    assert github_graphql.errors(good, {"input": {"pullRequestId": "PR_1",
                                                   "mergeMethod": "SQUASH"}}) == []
    assert github_graphql.errors(good, {"input": {"pullRequestId": "PR_1",
                                                   "mergeMethod": "FAST"}}) != []
    assert github_graphql.errors(good.replace("clientMutationId", "noSuchField"),
                                 {"input": {"pullRequestId": "PR_1"}}) != []
