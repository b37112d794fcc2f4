"""GitLab specifics through python-gitlab and the fake GitLab: the status state machine, job
tokens, id vs iid, nested groups, git over HTTP with ``oauth2:TOKEN``, pagination."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import gitlab as gitlab_sdk
import pytest

from promoter.errors import ForgeError, ForgeRefused
from promoter.forge import CommitStatus, PRState, StatusState, open_forge
from tests.forge.harness import BOT, GitLabHarness
from tests.servers.fake_gitlab import FakeGitLab, hook_headers
from tests.servers.git_http import commit_to, git

pytestmark = pytest.mark.integration


def _client(fake: FakeGitLab, token: str) -> gitlab_sdk.Gitlab:
    return gitlab_sdk.Gitlab(url=fake.url, private_token=token, keep_base_url=True)


def test_the_fake_refuses_a_repeated_pending_like_gitlab(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    sha = h.branch("promoter/x", {"x": "1"})
    commit = _client(gl_fake, h.token).projects.get(h.name).commits.get(sha, lazy=True)
    commit.statuses.create({"state": "pending", "name": "promoter/gates"})
    with pytest.raises(gitlab_sdk.GitlabCreateError) as info:
        commit.statuses.create({"state": "pending", "name": "promoter/gates"})
    assert info.value.response_code == 400
    assert "Cannot transition status via :enqueue from :pending" in str(info.value)
    commit.statuses.create({"state": "running", "name": "promoter/gates"})
    with pytest.raises(gitlab_sdk.GitlabCreateError, match=":run from :running"):
        commit.statuses.create({"state": "running", "name": "promoter/gates"})
    commit.statuses.create({"state": "success", "name": "promoter/gates"})
    commit.statuses.create({"state": "pending", "name": "promoter/gates"})  # a new round


def test_pending_with_a_new_description_moves_to_running(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    sha = h.branch("promoter/x", {"x": "1"})
    for left in (23, 10, 5):
        h.forge.set_status(sha, CommitStatus(context="promoter/gates",
                                             state=StatusState.PENDING,
                                             description=f"soak: {left} min left"))
    rows = [(s["status"], s["description"]) for s in h.project.statuses]
    assert rows == [("running", "soak: 10 min left")]  # running -> running is refused
    [status] = h.forge.statuses(sha)
    assert status.state is StatusState.PENDING


def test_job_tokens_may_not_touch_merge_requests(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.branch("promoter/x", {"x": "1"})
    gl_fake.add_job_token(BOT, "job-token-123456")
    client = gitlab_sdk.Gitlab(url=gl_fake.url, job_token="job-token-123456")
    project = client.projects.get(h.name)
    with pytest.raises(gitlab_sdk.GitlabListError) as info:
        project.mergerequests.list()
    assert info.value.response_code == 403
    forge = open_forge("gitlab", repo=h.name, url=gl_fake.url, token="job-token-123456",
                       retries=0)
    with pytest.raises(ForgeError) as error:
        forge.find(head="promoter/x", base="main")
    assert str(error.value) == \
        f"gitlab: {h.name}: find merge request promoter/x -> main: 403 Forbidden"


def test_id_and_iid_differ_and_notes_point_at_the_id(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.branch("promoter/x", {"x": "1"})
    pr = h.forge.create(head="promoter/x", base="main", title="t", body="")
    mr = h.project.mrs[pr.number]
    assert mr.iid == pr.number and mr.id != mr.iid
    note = _client(gl_fake, h.token).projects.get(h.name).mergerequests.get(
        pr.number, lazy=True).notes.create({"body": "hi"})
    assert (note.noteable_id, note.noteable_iid) == (mr.id, mr.iid)


def test_nested_group_project_path(gl_fake: FakeGitLab) -> None:
    gl_fake.add_project("platform/team-a/gitops")
    token = gl_fake.add_user(BOT, token="glpat-test-token-nested")
    gl_fake.set_access("platform/team-a/gitops", BOT, 40)
    project = gl_fake.project("platform/team-a/gitops")
    commit_to(project.bare, "promoter/prod", {"prod.yaml": "image: app:9\n"}, base="main")
    forge = open_forge("gitlab", repo="platform/team-a/gitops", url=gl_fake.url, token=token,
                       retries=0)
    pr = forge.create(head="promoter/prod", base="main", title="Promote", body="")
    assert pr.url == f"{gl_fake.url}/platform/team-a/gitops/-/merge_requests/{pr.number}"
    assert ("GET", "/api/v4/projects/platform%2Fteam-a%2Fgitops") in \
        {(m, p) for m, p, _ in gl_fake.requests}


def test_git_push_with_oauth2_token(gl_fake: FakeGitLab, tmp_path: Path) -> None:
    h = GitLabHarness(gl_fake)
    url = gl_fake.url.replace("http://", f"http://oauth2:{h.token}@") + f"/{h.name}.git"
    work = tmp_path / "clone"
    git("clone", "-q", url, str(work))
    (work / "staging.yaml").write_text("image: app:2\n")
    git("add", ".", cwd=work)
    git("commit", "-qm", "Promote app 2 to staging", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/promoter/staging", cwd=work)
    pr = h.forge.create(head="promoter/staging", base="main", title="t", body="")
    assert pr.head_sha == git("rev-parse", "HEAD", cwd=work)
    anonymous = subprocess.run(["git", "-c", "credential.helper=", "ls-remote",
                                f"{gl_fake.url}/{h.name}.git"], capture_output=True,
                               env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"})
    assert anonymous.returncode != 0


def test_notes_and_merge_requests_follow_every_page(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    numbers = []
    for i in range(23):
        h.branch(f"promoter/{i}", {"x": str(i)})
        numbers.append(h.forge.create(head=f"promoter/{i}", base="main", title=str(i),
                                      body="").number)
    assert [p.number for p in h.forge.list_open()] == numbers[::-1]
    for i in range(22):
        h.comment_by(numbers[0], "alice", f"note {i}")
    assert [c.body for c in h.forge.comments(numbers[0])] == [f"note {i}" for i in range(22)]


def test_system_notes_are_marked(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    nid = gl_fake.add_note(h.name, number, "alice", "added 1 commit", system=True)
    assert h.forge.get_comment(number, nid).system is True


def test_no_token_is_an_input_error_and_a_bad_one_a_forge_error(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    with pytest.raises(Exception, match="set a token"):
        open_forge("gitlab", repo=h.name, url=gl_fake.url)
    with pytest.raises(ForgeError) as info:
        open_forge("gitlab", repo=h.name, url=gl_fake.url, token="glpat-wrong-0123", retries=0)
    assert "401" in str(info.value) and "glpat-wrong-0123" not in str(info.value)
    assert isinstance(info.value, ForgeRefused) and not info.value.retryable


def test_unknown_endpoints_answer_501_and_are_recorded(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    start = len(gl_fake.unknown)
    project = _client(gl_fake, h.token).projects.get(h.name)
    with pytest.raises(gitlab_sdk.GitlabListError) as info:
        project.pipelines.list()
    assert info.value.response_code == 501
    assert gl_fake.unknown[start:][0].startswith(f"GET /api/v4/projects/{h.project.id}/pipelines")
    del gl_fake.unknown[start:]


def test_note_and_merge_request_hooks_from_state(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="Promote", body="").number
    h.forge.add_labels(number, ("promotion",))
    nid = h.comment_by(number, "alice", "/promote prod")
    note = gl_fake.note_event(h.name, number, nid)
    mr = h.project.mrs[number]
    attrs = note["object_attributes"]
    assert (note["object_kind"], attrs["note"], attrs["noteable_type"], attrs["system"]) == \
        ("note", "/promote prod", "MergeRequest", False)
    assert (attrs["noteable_id"], note["merge_request"]["iid"]) == (mr.id, number)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", attrs["created_at"])
    assert note["user"]["username"] == "alice"
    assert [x["title"] for x in note["merge_request"]["labels"]] == ["promotion"]
    assert note["merge_request"]["last_commit"]["id"] == mr.sha
    event = gl_fake.merge_request_event(h.name, number, action="open")
    assert (event["object_kind"], event["object_attributes"]["action"],
            event["object_attributes"]["iid"]) == ("merge_request", "open", number)
    headers = hook_headers("Note Hook", token="s3cret", uuid="u-1")
    assert (headers["X-Gitlab-Event"], headers["X-Gitlab-Token"],
            headers["Idempotency-Key"]) == ("Note Hook", "s3cret", "u-1")


def test_a_read_only_token_is_refused_and_429_is_waited_out(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.branch("promoter/x", {"x": "1"})
    gl_fake.read_only.add(h.token)
    try:
        with pytest.raises(ForgeError, match="create merge request promoter/x -> main: "
                                             "403 Forbidden$"):
            h.forge.create(head="promoter/x", base="main", title="t", body="")
    finally:
        gl_fake.read_only.discard(h.token)
    # python-gitlab always obeys 429 + Retry-After
    gl_fake.fail_next("POST", r"/merge_requests$", status=429,
                      body={"message": "429 Too Many Requests"}, headers={"Retry-After": "0"})
    assert h.forge.create(head="promoter/x", base="main", title="t", body="").number == 1


def test_auto_merge_waits_for_the_pipeline_and_the_approval(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    sha = h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    h.forge.set_status(sha, CommitStatus(context="ci/build", state=StatusState.PENDING))
    h.forge.enable_auto_merge(number)
    h.approve(number, "alice")
    assert h.forge.get(number).state is PRState.OPEN  # the pipeline still runs
    h.forge.set_status(sha, CommitStatus(context="ci/build", state=StatusState.SUCCESS))
    pr = h.forge.get(number)
    assert (pr.state, pr.auto_merge) == (PRState.MERGED, False)
    assert h.project.resolve("refs/heads/main") == h.project.mrs[number].merge_commit_sha


def test_auto_merge_with_nothing_to_wait_for_merges_at_once(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    h.project.required_approvals = 0
    h.branch("promoter/x", {"x": "1"})
    number = h.forge.create(head="promoter/x", base="main", title="t", body="").number
    h.forge.enable_auto_merge(number)
    assert h.forge.get(number).state is PRState.MERGED


def test_hook_signature_follows_standard_webhooks() -> None:
    # the example of the Standard Webhooks specification, which GitLab's signing tokens follow
    headers = hook_headers("Note Hook", uuid="msg_p5jXN8AQM9LWM0D4loKWxJek",
                           body=b'{"test": 2432232314}',
                           signing_token="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                           timestamp=1614265330)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == \
        ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330")
    assert "X-Gitlab-Token" not in headers


def test_members_of_a_parent_group_belong_to_its_subgroups(gl_fake: FakeGitLab) -> None:
    h = GitLabHarness(gl_fake)
    top = h.name.replace("/", "-")  # a group of this test only
    gl_fake.add_group_member(top, "pat", level=50)
    gl_fake.add_group_member(f"{top}/platform/sre", "sam")
    assert h.forge.member_of("pat", f"{top}/platform/sre")  # inherited, as members/all says
    assert h.forge.member_of("sam", f"{top}/platform/sre")
    assert not h.forge.member_of("sam", top)  # membership does not flow upwards
    asked = [path for _, path, _ in gl_fake.requests if path.startswith("/api/v4/groups/")]
    assert asked[-2].startswith(f"/api/v4/groups/{top}%2Fplatform%2Fsre/members/all/")
