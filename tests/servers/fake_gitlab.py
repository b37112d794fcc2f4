"""A local, stateful fake of GitLab's REST API v4, on 127.0.0.1, for python-gitlab.

::

    with FakeGitLab(tmp_path) as gl:
        project = gl.add_project("grp/gitops", files={"prod.yaml": "image: app:1\\n"})
        token = gl.add_user("promoter-bot", token="glpat-x", access_level=30)
        client = gitlab.Gitlab(url=gl.url, private_token=token)

Branches and SHAs live in real bare repositories under ``root`` (git clients use
``<url>/grp/gitops.git`` with ``oauth2:TOKEN``); merge requests, notes, award emoji, labels,
approvals, commit statuses and members live in memory. Objects carry the fields of GitLab's
documented examples (``doc/api/merge_requests.md`` and friends). GitLab publishes no schema to
validate them against, so unlike the fake GitHub its responses are not checked by a spec.

Test API: :meth:`~FakeGitLab.add_project`, :meth:`~FakeGitLab.add_user` (returns a token),
:meth:`~FakeGitLab.add_job_token`, :meth:`~FakeGitLab.set_access` (10 guest ... 50 owner),
:meth:`~FakeGitLab.add_note` and :meth:`~FakeGitLab.approve` (other people),
:meth:`~FakeGitLab.fail_next`, ``read_only`` tokens, and :meth:`~FakeGitLab.note_event` /
:meth:`~FakeGitLab.merge_request_event` + :func:`hook_headers` for webhook deliveries.

Fidelity rules, each a real GitLab behaviour:

* routes match the raw path, so ``:id`` may be numeric or a URL-encoded path (``grp%2Fgitops``)
  and branch names keep their ``%2F``;
* MR ``id`` and ``iid`` differ (ids start at 5001), MR routes take the ``iid``;
* a second open MR for the same source and target branch is ``409``;
* commit statuses are a state machine per commit and name: ``pending`` -> ``pending`` and
  ``running`` -> ``running`` are ``400 Cannot transition status``; a finished status is
  followed by a new one;
* ``labels`` replaces, ``add_labels``/``remove_labels`` edit, as a comma string or a list;
* ``JOB-TOKEN`` may not touch merge requests or notes (403), as on GitLab;
* an unknown endpoint answers ``501`` and lands in :attr:`FakeGitLab.unknown`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tests.servers.git_http import (
    Abort,
    FakeForgeServer,
    Handler,
    Json,
    Request,
    Result,
    git,
    init_bare,
    merge_into,
    resolve,
)

FINAL = ("success", "failed", "canceled", "skipped")
STATES = ("pending", "running", *FINAL)
_TRANSITION = {"pending": "enqueue", "running": "run", "success": "succeed", "failed": "drop",
               "canceled": "cancel", "skipped": "skip"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes", "on", "t", "y")


def _names(value: Any) -> list[str]:
    """Labels as GitLab accepts them: a comma-separated string or a list."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [x.strip() for x in items if x.strip()]


@dataclass
class MergeRequest:
    id: int
    iid: int
    source: str
    target: str
    title: str
    description: str
    author: str
    sha: str
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    reviewer_ids: list[int] = field(default_factory=list)
    approved_by: list[str] = field(default_factory=list)
    auto_merge: bool = False
    squash: bool = False
    merged_at: str | None = None
    closed_at: str | None = None
    merge_commit_sha: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class Note:
    id: int
    iid: int  # the merge request's iid
    author: str
    body: str
    system: bool = False
    emoji: list[tuple[int, str, str]] = field(default_factory=list)  # (id, user, name)
    created_at: str = field(default_factory=_now)


@dataclass
class Issue:
    id: int
    iid: int
    title: str
    description: str
    author: str
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class Project:
    id: int
    path: str  # "grp/gitops"
    bare: Path
    default_branch: str
    members: dict[str, int] = field(default_factory=dict)  # username -> access level
    mrs: dict[int, MergeRequest] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # merge checks: approvals required (approval rules) and "pipelines must succeed"
    required_approvals: int = 0
    only_allow_merge_if_pipeline_succeeds: bool = False
    topics: tuple[str, ...] = ()
    archived: bool = False

    def resolve(self, ref: str) -> str | None:
        return resolve(self.bare, ref)

    def git(self, *args: str) -> str:
        return git("--git-dir", str(self.bare), *args)


class FakeGitLab(FakeForgeServer):
    """The fake server. Start with ``with`` (or :meth:`start`/:meth:`stop`)."""

    name = "fake GitLab"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._ids = itertools.count(5001)
        self.users: dict[str, int] = {}
        self.job_tokens: set[str] = set()
        self.projects: dict[int, Project] = {}
        self.groups: dict[str, dict[str, int]] = {}  # group path -> username -> level

    # ---------------------------------------------------------------- setup API (tests) -------
    def add_user(self, username: str, *, token: str | None = None) -> str:
        with self.lock:
            self.users.setdefault(username, len(self.users) + 1)
            tok = token or f"glpat-{username}-{len(self.tokens)}"
            self.tokens[tok] = username
            return tok

    def add_job_token(self, username: str, token: str) -> None:
        self.add_user(username, token=token)
        self.job_tokens.add(token)

    def add_project(self, path: str, *, files: dict[str, str] | None = None,
                    default_branch: str = "main", topics: tuple[str, ...] = (),
                    archived: bool = False) -> Project:
        owner = path.split("/")[0]
        self.users.setdefault(owner, len(self.users) + 1)
        pid = 100 + len(self.projects) + 1
        bare = self.root / f"{path}.git"
        init_bare(bare, branch=default_branch, files=files)
        project = Project(id=pid, path=path, bare=bare, default_branch=default_branch,
                          members={owner: 50}, topics=tuple(topics), archived=archived)
        self.projects[pid] = project
        return project

    def project(self, path: str) -> Project:
        return next(p for p in self.projects.values() if p.path == path)

    def set_access(self, path: str, username: str, level: int | None) -> None:
        """Make ``username`` a member with ``level`` (10 guest ... 50 owner); None removes."""
        self.users.setdefault(username, len(self.users) + 1)
        members = self.project(path).members
        if level is None:
            members.pop(username, None)
        else:
            members[username] = level

    def add_group_member(self, group: str, username: str, level: int = 10) -> None:
        """Make ``username`` a member of group ``group`` (a path) with access ``level``."""
        with self.lock:
            self.users.setdefault(username, len(self.users) + 1)
            self.groups.setdefault(group, {})[username] = level

    def approve(self, path: str, iid: int, username: str) -> None:
        """``username`` approves merge request ``iid``."""
        with self.lock:
            self.users.setdefault(username, len(self.users) + 1)
            project = self.project(path)
            mr = project.mrs[iid]
            if username not in mr.approved_by:
                mr.approved_by.append(username)
            self._auto_merge(project)

    def add_note(self, path: str, iid: int, username: str, body: str, *,
                 system: bool = False) -> int:
        """A note by someone (a command for the bot); returns its id."""
        with self.lock:
            self.users.setdefault(username, len(self.users) + 1)
            nid = next(self._ids)
            self.project(path).notes[nid] = Note(nid, iid, username, body, system)
            return nid

    # ---------------------------------------------------------------- server hooks ----------
    def authenticate(self, headers: Message) -> tuple[str | None, str | None]:
        scheme, _, bearer = headers.get("Authorization", "").partition(" ")
        token = headers.get("PRIVATE-TOKEN") or headers.get("JOB-TOKEN") or (
            bearer.strip() if scheme.lower() == "bearer" else None)
        if token and token in self.tokens:
            return self.tokens[token], token
        return None, None

    def error_body(self, status: int, message: str) -> Json:
        if status == 401:
            return {"message": "401 Unauthorized"}
        return {"message": message if message[:3].isdigit() else f"{status} {message}"}

    def api_path(self, path: str) -> str | None:
        if not path.startswith("/api/v4/"):
            return None
        return path.removeprefix("/api/v4")

    # ---------------------------------------------------------------- builders ---------------
    def user(self, username: str) -> dict[str, Any]:
        uid = self.users.setdefault(username, len(self.users) + 1)
        return {"id": uid, "username": username, "name": username.title(), "state": "active",
                "locked": False, "avatar_url": f"{self.url}/uploads/-/avatar/{uid}.png",
                "web_url": f"{self.url}/{quote(username)}"}

    def _username(self, uid: int) -> str:
        return next(name for name, i in self.users.items() if i == uid)

    def project_json(self, p: Project) -> dict[str, Any]:
        ns, _, name = p.path.rpartition("/")
        return {
            "id": p.id, "name": name, "path": name, "path_with_namespace": p.path,
            "name_with_namespace": p.path.replace("/", " / "), "description": "",
            "default_branch": p.default_branch, "visibility": "private",
            "web_url": f"{self.url}/{p.path}", "http_url_to_repo": f"{self.url}/{p.path}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{p.path}.git", "readme_url": None,
            "namespace": {"id": p.id * 10, "name": ns, "path": ns, "kind": "group",
                          "full_path": ns, "web_url": f"{self.url}/groups/{ns}"},
            "created_at": _now(), "last_activity_at": _now(), "archived": p.archived,
            "topics": list(p.topics), "tag_list": list(p.topics),
            "merge_method": "merge", "only_allow_merge_if_pipeline_succeeds": False,
            "_links": {"self": f"{self.url}/api/v4/projects/{p.id}"}}

    def mr_json(self, p: Project, mr: MergeRequest) -> dict[str, Any]:
        if mr.state == "opened":
            mr.sha = p.resolve(f"refs/heads/{mr.source}") or mr.sha
        base_sha = p.resolve(f"refs/heads/{mr.target}") or ""
        draft = mr.title.lower().startswith(("draft:", "[draft]", "(draft)"))
        ns = p.path
        return {
            "id": mr.id, "iid": mr.iid, "project_id": p.id, "title": mr.title,
            "description": mr.description, "state": mr.state, "created_at": mr.created_at,
            "updated_at": mr.updated_at, "merged_at": mr.merged_at, "closed_at": mr.closed_at,
            "merged_by": None, "merge_user": None, "closed_by": None,
            "target_branch": mr.target, "source_branch": mr.source, "user_notes_count":
                sum(1 for n in p.notes.values() if n.iid == mr.iid), "upvotes": 0,
            "downvotes": 0, "author": self.user(mr.author),
            "assignees": [self.user(self._username(i)) for i in mr.assignee_ids],
            "assignee": self.user(self._username(mr.assignee_ids[0])) if mr.assignee_ids
            else None,
            "reviewers": [self.user(self._username(i)) for i in mr.reviewer_ids],
            "source_project_id": p.id, "target_project_id": p.id, "labels": list(mr.labels),
            "draft": draft, "work_in_progress": draft, "milestone": None,
            "merge_when_pipeline_succeeds": mr.auto_merge,
            "merge_status": "can_be_merged" if mr.state == "opened" else "unchecked",
            "detailed_merge_status": "mergeable" if mr.state == "opened" else "not_open",
            "sha": mr.sha, "merge_commit_sha": mr.merge_commit_sha, "squash_commit_sha": None,
            "discussion_locked": None, "should_remove_source_branch": None,
            "force_remove_source_branch": False, "reference": f"!{mr.iid}",
            "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}",
                           "full": f"{ns}!{mr.iid}"},
            "web_url": f"{self.url}/{ns}/-/merge_requests/{mr.iid}",
            "time_stats": {"time_estimate": 0, "total_time_spent": 0,
                           "human_time_estimate": None, "human_total_time_spent": None},
            "squash": mr.squash, "squash_on_merge": mr.squash,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False, "blocking_discussions_resolved": True,
            "diff_refs": {"base_sha": base_sha, "head_sha": mr.sha, "start_sha": base_sha}}

    def note_json(self, p: Project, n: Note) -> dict[str, Any]:
        mr = p.mrs[n.iid]
        return {"id": n.id, "type": None, "body": n.body, "attachment": None,
                "author": self.user(n.author), "created_at": n.created_at,
                "updated_at": n.created_at, "system": n.system, "noteable_id": mr.id,
                "noteable_type": "MergeRequest", "project_id": p.id, "noteable_iid": mr.iid,
                "resolvable": False, "confidential": False, "internal": False,
                "imported": False, "imported_from": "none"}

    def status_json(self, s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k != "project"}

    def commit_json(self, p: Project, sha: str) -> dict[str, Any]:
        fields = p.git("show", "-s", "--format=%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI"
                       "%x00%s%x00%B", sha).split("\x00")
        parents, an, ae, ad, cn, ce, cd, subject, message = fields
        return {"id": sha, "short_id": sha[:8], "title": subject, "message": message.strip(),
                "author_name": an, "author_email": ae, "authored_date": ad,
                "committer_name": cn, "committer_email": ce, "committed_date": cd,
                "created_at": cd, "parent_ids": parents.split(), "trailers": {},
                "extended_trailers": {}, "status": None, "last_pipeline": None,
                "web_url": f"{self.url}/{p.path}/-/commit/{sha}"}

    # ---------------------------------------------------------------- routing ----------------
    def routes(self) -> list[tuple[str, str, str, Handler]]:
        proj = r"^/projects/(?P<pid>[^/]+)"
        mr = proj + r"/merge_requests/(?P<iid>\d+)"
        return [
            ("GET", r"^/user$", "user", self.h_me),
            ("GET", r"^/users$", "users/list", self.h_users),
            ("GET", proj + r"$", "projects/get", self.h_project),
            ("GET", proj + r"/repository/branches/(?P<branch>[^/]+)$", "branches/get",
             self.h_branch),
            ("POST", proj + r"/repository/branches$", "branches/create", self.h_create_branch),
            ("GET", proj + r"/repository/commits/(?P<sha>[^/]+)$", "commits/get",
             self.h_commit),
            ("GET", proj + r"/repository/commits/(?P<sha>[^/]+)/statuses$",
             "commits/statuses", self.h_list_statuses),
            ("POST", proj + r"/statuses/(?P<sha>[0-9a-f]{40})$", "statuses/create",
             self.h_create_status),
            ("GET", proj + r"/issues$", "issues/list", self.h_list_issues),
            ("POST", proj + r"/issues$", "issues/create", self.h_create_issue),
            ("GET", proj + r"/issues/(?P<iid>\d+)$", "issues/get", self.h_get_issue),
            ("PUT", proj + r"/issues/(?P<iid>\d+)$", "issues/update", self.h_update_issue),
            ("GET", proj + r"/merge_requests$", "merge_requests/list", self.h_list_mrs),
            ("POST", proj + r"/merge_requests$", "merge_requests/create", self.h_create_mr),
            ("GET", mr + r"$", "merge_requests/get", self.h_get_mr),
            ("PUT", mr + r"$", "merge_requests/update", self.h_update_mr),
            ("PUT", mr + r"/merge$", "merge_requests/merge", self.h_merge),
            ("GET", mr + r"/approvals$", "merge_requests/approvals", self.h_approvals),
            ("GET", mr + r"/notes$", "notes/list", self.h_list_notes),
            ("POST", mr + r"/notes$", "notes/create", self.h_create_note),
            ("GET", mr + r"/notes/(?P<nid>\d+)$", "notes/get", self.h_get_note),
            ("POST", mr + r"/notes/(?P<nid>\d+)/award_emoji$", "award_emoji/create",
             self.h_award),
            ("GET", mr + r"/notes/(?P<nid>\d+)/award_emoji$", "award_emoji/list",
             self.h_list_awards),
            ("GET", proj + r"/members/all/(?P<uid>\d+)$", "members/all/get", self.h_member),
            ("GET", r"^/groups/(?P<gid>[^/]+)/projects$", "groups/projects",
             self.h_group_projects),
            ("GET", r"^/groups/(?P<gid>[^/]+)/members/all/(?P<uid>\d+)$",
             "groups/members/all/get", self.h_group_member),
        ]

    def _project(self, req: Request, pid: str, *, mr_scope: bool = False) -> Project:
        p = (self.projects.get(int(pid)) if pid.isdigit()
             else next((x for x in self.projects.values() if x.path == pid), None))
        if p is None or req.login not in p.members:
            raise Abort(404, {"message": "404 Project Not Found"})
        if mr_scope and req.token in self.job_tokens:
            raise Abort(403, {"message": "403 Forbidden"})
        return p

    def _mr(self, req: Request, pid: str, iid: str) -> tuple[Project, MergeRequest]:
        p = self._project(req, pid, mr_scope=True)
        mr = p.mrs.get(int(iid))
        if mr is None:
            raise Abort(404, {"message": "404 Not found"})
        return p, mr

    def _writer(self, req: Request, p: Project) -> str:
        assert req.login is not None
        if p.members.get(req.login, 0) < 30:
            raise Abort(403, {"message": "403 Forbidden"})
        return req.login

    # ---------------------------------------------------------------- handlers ---------------
    def h_me(self, req: Request) -> Result:
        assert req.login is not None
        return 200, {**self.user(req.login), "email": f"{req.login}@example.com",
                     "is_admin": False, "bot": req.login.endswith("-bot")}

    def h_users(self, req: Request) -> Result:
        name = req.query.get("username")
        found = [self.user(u) for u in self.users if name is None or u == name]
        return self.paged(req, "/api/v4/users", found, default=20)

    def h_project(self, req: Request, pid: str) -> Result:
        return 200, self.project_json(self._project(req, pid))

    def h_branch(self, req: Request, pid: str, branch: str) -> Result:
        p = self._project(req, pid)
        sha = p.resolve(f"refs/heads/{branch}")
        if sha is None:
            return 404, {"message": "404 Branch Not Found"}
        return 200, {"name": branch, "commit": self.commit_json(p, sha), "merged": False,
                     "protected": branch == p.default_branch, "developers_can_push": False,
                     "developers_can_merge": False, "can_push": True,
                     "default": branch == p.default_branch,
                     "web_url": f"{self.url}/{p.path}/-/tree/{quote(branch)}"}

    def h_create_branch(self, req: Request, pid: str) -> Result:
        p = self._project(req, pid)
        self._writer(req, p)
        body = {**req.query, **(req.body or {})}
        name, ref = body.get("branch", ""), body.get("ref", "")
        sha = p.resolve(ref)
        if sha is None:
            return 400, {"message": "Invalid reference name: " + ref}
        if p.resolve(f"refs/heads/{name}"):
            return 400, {"message": "Branch already exists"}
        p.git("update-ref", f"refs/heads/{name}", sha)
        return 201, self.h_branch(req, pid, name)[1]

    def h_commit(self, req: Request, pid: str, sha: str) -> Result:
        p = self._project(req, pid)
        full = p.resolve(sha)
        if full is None:
            return 404, {"message": "404 Commit Not Found"}
        return 200, self.commit_json(p, full)

    def h_list_statuses(self, req: Request, pid: str, sha: str) -> Result:
        p = self._project(req, pid)
        full = p.resolve(sha)
        if full is None:
            return 404, {"message": "404 Commit Not Found"}
        items = [self.status_json(s) for s in p.statuses if s["sha"] == full
                 and req.query.get("name", s["name"]) == s["name"]]
        return self.paged(req, f"/api/v4/projects/{p.id}/repository/commits/{sha}/statuses",
                          items, default=20)

    def h_create_status(self, req: Request, pid: str, sha: str) -> Result:
        p = self._project(req, pid)
        author = self._writer(req, p)
        body = {**req.query, **(req.body or {})}
        state = body.get("state")
        if state not in STATES:
            return 400, {"error": "state does not have a valid value"}
        if p.resolve(sha) != sha:
            return 404, {"message": "404 Commit Not Found"}
        name = body.get("name") or body.get("context") or "default"
        ref = body.get("ref") or p.default_branch
        current = next((s for s in reversed(p.statuses)
                        if s["sha"] == sha and s["name"] == name and s["ref"] == ref), None)
        if current is not None and current["status"] not in FINAL:
            if state == current["status"] or (state == "pending" and
                                               current["status"] == "running"):
                return 400, {"message": f"Cannot transition status via :{_TRANSITION[state]} "
                                        f"from :{current['status']}"}
            current.update(status=state, description=body.get("description",
                                                              current["description"]),
                           target_url=body.get("target_url", current["target_url"]),
                           finished_at=_now() if state in FINAL else None)
            self._auto_merge(p)
            return 201, self.status_json(current)
        status = {"id": next(self._ids), "sha": sha, "ref": ref, "status": state,
                  "name": name, "target_url": body.get("target_url"),
                  "description": body.get("description"), "created_at": _now(),
                  "started_at": _now() if state != "pending" else None,
                  "finished_at": _now() if state in FINAL else None, "allow_failure": False,
                  "coverage": None, "pipeline_id": 1, "author": self.user(author)}
        p.statuses.append(status)
        self._auto_merge(p)
        return 201, self.status_json(status)

    def h_list_mrs(self, req: Request, pid: str) -> Result:
        p = self._project(req, pid, mr_scope=True)
        q = req.query
        state = q.get("state", "all")
        out = [m for m in p.mrs.values()
               if (state == "all" or m.state == state)
               and q.get("source_branch", m.source) == m.source
               and q.get("target_branch", m.target) == m.target
               and all(x in m.labels for x in _names(q.get("labels", "")))
               and ("created_after" not in q
                    or _time(m.created_at) >= _time(q["created_after"]))]
        key = "updated_at" if q.get("order_by") == "updated_at" else "created_at"
        out.sort(key=lambda m: (getattr(m, key), m.iid), reverse=q.get("sort", "desc") == "desc")
        return self.paged(req, f"/api/v4/projects/{p.id}/merge_requests",
                          [self.mr_json(p, m) for m in out], default=20)

    # -- issues (the dashboard) -------------------------------------------------------------
    def issue_json(self, p: Project, i: Issue) -> dict[str, Any]:
        return {"id": i.id, "iid": i.iid, "project_id": p.id, "title": i.title,
                "description": i.description, "state": i.state, "created_at": i.created_at,
                "updated_at": i.updated_at, "closed_at": None, "closed_by": None,
                "labels": list(i.labels), "milestone": None, "assignees": [],
                "assignee": None, "author": self.user(i.author), "type": "ISSUE",
                "user_notes_count": 0, "upvotes": 0, "downvotes": 0, "confidential": False,
                "discussion_locked": None, "issue_type": "issue",
                "web_url": f"{self.url}/{p.path}/-/issues/{i.iid}",
                "references": {"short": f"#{i.iid}", "relative": f"#{i.iid}",
                               "full": f"{p.path}#{i.iid}"}}

    def edit_issue(self, path: str, iid: int, description: str) -> None:
        """Someone edits an issue's description in the web UI (a ticked checkbox)."""
        p = next(x for x in self.projects.values() if x.path == path)
        p.issues[iid].description, p.issues[iid].updated_at = description, _now()

    def _issue(self, req: Request, pid: str, iid: str) -> tuple[Project, Issue]:
        p = self._project(req, pid)
        issue = p.issues.get(int(iid))
        if issue is None:
            raise Abort(404, {"message": "404 Not found"})
        return p, issue

    def h_list_issues(self, req: Request, pid: str) -> Result:
        p = self._project(req, pid)
        q = req.query
        state = q.get("state", "all")
        out = [i for i in p.issues.values() if (state == "all" or i.state == state)
               and all(x in i.labels for x in _names(q.get("labels", "")))]
        out.sort(key=lambda i: (i.created_at, i.iid), reverse=q.get("sort", "desc") == "desc")
        return self.paged(req, f"/api/v4/projects/{p.id}/issues",
                          [self.issue_json(p, i) for i in out], default=20)

    def h_create_issue(self, req: Request, pid: str) -> Result:
        p = self._project(req, pid)
        body = req.body or {}
        if not body.get("title"):
            return 400, {"message": {"title": ["can't be blank"]}}
        assert req.login is not None
        iid = max([*p.issues, 0]) + 1
        p.issues[iid] = Issue(id=next(self._ids), iid=iid, title=body["title"],
                              description=body.get("description") or "", author=req.login,
                              labels=list(dict.fromkeys(_names(body.get("labels")))))
        return 201, self.issue_json(p, p.issues[iid])

    def h_get_issue(self, req: Request, pid: str, iid: str) -> Result:
        p, issue = self._issue(req, pid, iid)
        return 200, self.issue_json(p, issue)

    def h_update_issue(self, req: Request, pid: str, iid: str) -> Result:
        p, issue = self._issue(req, pid, iid)
        body = req.body or {}
        for key in ("title", "description"):
            if key in body:
                setattr(issue, key, body[key])
        if body.get("state_event") == "close":
            issue.state = "closed"
        issue.updated_at = _now()
        return 200, self.issue_json(p, issue)

    def _user_ids(self, ids: Any) -> list[int]:
        out = [int(i) for i in (ids if isinstance(ids, list) else _names(str(ids)))]
        for i in out:
            if i not in self.users.values():
                raise Abort(400, {"message": {"assignee_ids": [f"user {i} not found"]}})
        return out

    def h_create_mr(self, req: Request, pid: str) -> Result:
        p = self._project(req, pid, mr_scope=True)
        author = self._writer(req, p)
        body = {**req.query, **(req.body or {})}
        source, target = body.get("source_branch", ""), body.get("target_branch", "")
        if not body.get("title") or not source or not target:
            return 400, {"error": "title, source_branch, target_branch are missing"}
        sha = p.resolve(f"refs/heads/{source}")
        if sha is None or p.resolve(f"refs/heads/{target}") is None:
            return 404, {"message": "404 Branch Not Found"}
        dup = next((m for m in p.mrs.values()
                    if m.state == "opened" and m.source == source and m.target == target), None)
        if dup is not None:
            return 409, {"message": ["Another open merge request already exists for this "
                                     f"source branch: !{dup.iid}"]}
        iid = max([*p.mrs, 0]) + 1
        mr = MergeRequest(id=next(self._ids), iid=iid, source=source, target=target,
                          title=body["title"], description=body.get("description") or "",
                          author=author, sha=sha, labels=_names(body.get("labels")),
                          assignee_ids=self._user_ids(body.get("assignee_ids", [])),
                          reviewer_ids=self._user_ids(body.get("reviewer_ids", [])))
        p.mrs[iid] = mr
        return 201, self.mr_json(p, mr)

    def h_get_mr(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        return 200, self.mr_json(p, mr)

    def h_update_mr(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        self._writer(req, p)
        body = {**req.query, **(req.body or {})}
        if "title" in body:
            mr.title = body["title"]
        if "description" in body:
            mr.description = body["description"]
        if "labels" in body:
            mr.labels = list(dict.fromkeys(_names(body["labels"])))
        mr.labels += [x for x in _names(body.get("add_labels")) if x not in mr.labels]
        mr.labels = [x for x in mr.labels if x not in _names(body.get("remove_labels"))]
        if "assignee_ids" in body:
            mr.assignee_ids = self._user_ids(body["assignee_ids"])
        if "reviewer_ids" in body:
            mr.reviewer_ids = self._user_ids(body["reviewer_ids"])
        event = body.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at, mr.auto_merge = "closed", _now(), False
        elif event == "reopen" and mr.state == "closed":
            mr.state, mr.closed_at = "opened", None
        mr.updated_at = _now()
        return 200, self.mr_json(p, mr)

    def pipeline(self, p: Project, sha: str) -> str | None:
        """The state of the external pipeline made of ``sha``'s commit statuses, or None."""
        newest = {s["name"]: s["status"] for s in p.statuses if s["sha"] == sha}
        if not newest:
            return None
        if any(state not in FINAL for state in newest.values()):
            return "running"
        return "failed" if {"failed", "canceled"} & set(newest.values()) else "success"

    def waiting_for(self, p: Project, mr: MergeRequest) -> str | None:
        """What still keeps ``mr`` from merging (approvals, a running pipeline), or None."""
        if len(mr.approved_by) < p.required_approvals:
            return "approvals"
        pipeline = self.pipeline(p, mr.sha)
        if pipeline == "running" or (pipeline is None and p.only_allow_merge_if_pipeline_succeeds):
            return "pipeline"
        return "failed pipeline" if pipeline == "failed" else None

    def _merge(self, p: Project, mr: MergeRequest) -> str | None:
        head = p.resolve(f"refs/heads/{mr.source}") or mr.sha
        sha = merge_into(p.bare, mr.target, head, squash=mr.squash,
                         message=f"Merge branch '{mr.source}' into '{mr.target}'")
        if sha is None:
            return None
        mr.sha, mr.state, mr.merged_at, mr.merge_commit_sha = head, "merged", _now(), sha
        mr.auto_merge = False
        return sha

    def _auto_merge(self, p: Project) -> None:
        """Merge every MR set to auto-merge whose checks now pass."""
        for mr in list(p.mrs.values()):
            if mr.state == "opened" and mr.auto_merge:
                mr.sha = p.resolve(f"refs/heads/{mr.source}") or mr.sha
                if self.waiting_for(p, mr) is None:
                    self._merge(p, mr)

    def h_merge(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        self._writer(req, p)
        body = {**req.query, **(req.body or {})}
        head = p.resolve(f"refs/heads/{mr.source}") or mr.sha
        if mr.state != "opened":
            return 405, {"message": "405 Method Not Allowed"}
        if body.get("sha") and body["sha"] != head:
            return 409, {"message": "SHA does not match HEAD of source branch: " + head}
        mr.sha = head
        mr.squash = _bool(body.get("squash", mr.squash))
        waiting = self.waiting_for(p, mr)
        if _bool(body.get("auto_merge")) or _bool(body.get("merge_when_pipeline_succeeds")):
            if waiting in ("approvals", "pipeline"):
                mr.auto_merge = True  # merges when the pipeline succeeds and approvals are in
                return 200, self.mr_json(p, mr)
        if waiting is not None:
            return 405, {"message": "405 Method Not Allowed"}
        if self._merge(p, mr) is None:
            return 406, {"message": "Branch cannot be merged"}
        return 200, self.mr_json(p, mr)

    def h_approvals(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        return 200, {
            "id": mr.id, "iid": mr.iid, "project_id": p.id, "title": mr.title,
            "description": mr.description, "state": mr.state, "created_at": mr.created_at,
            "updated_at": mr.updated_at, "merge_status": "can_be_merged",
            "approved": bool(mr.approved_by), "approvals_required": 0, "approvals_left": 0,
            "require_password_to_approve": False,
            "approved_by": [{"user": self.user(u)} for u in mr.approved_by],
            "suggested_approvers": [], "approvers": [], "approver_groups": [],
            "user_has_approved": req.login in mr.approved_by, "user_can_approve": True,
            "approval_rules_left": [], "has_approval_rules": False,
            "merge_request_approvers_available": False,
            "multiple_approval_rules_available": False, "invalid_approvers_rules": []}

    def h_list_notes(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        notes = sorted((n for n in p.notes.values() if n.iid == mr.iid), key=lambda n: n.id,
                       reverse=req.query.get("sort", "desc") == "desc")
        return self.paged(req, f"/api/v4/projects/{p.id}/merge_requests/{iid}/notes",
                          [self.note_json(p, n) for n in notes], default=20)

    def h_create_note(self, req: Request, pid: str, iid: str) -> Result:
        p, mr = self._mr(req, pid, iid)
        assert req.login is not None
        text = {**req.query, **(req.body or {})}.get("body")
        if not text:
            return 400, {"error": "body is missing"}
        nid = next(self._ids)
        p.notes[nid] = Note(nid, mr.iid, req.login, text)
        return 201, self.note_json(p, p.notes[nid])

    def _note(self, req: Request, pid: str, iid: str, nid: str) -> tuple[Project, Note]:
        p, mr = self._mr(req, pid, iid)
        n = p.notes.get(int(nid))
        if n is None or n.iid != mr.iid:
            raise Abort(404, {"message": "404 Not found"})
        return p, n

    def h_get_note(self, req: Request, pid: str, iid: str, nid: str) -> Result:
        p, n = self._note(req, pid, iid, nid)
        return 200, self.note_json(p, n)

    def _award_json(self, p: Project, n: Note, award: tuple[int, str, str]) -> dict[str, Any]:
        return {"id": award[0], "name": award[2], "user": self.user(award[1]),
                "created_at": n.created_at, "updated_at": n.created_at,
                "awardable_id": n.id, "awardable_type": "Note"}

    def h_award(self, req: Request, pid: str, iid: str, nid: str) -> Result:
        p, n = self._note(req, pid, iid, nid)
        assert req.login is not None
        name = {**req.query, **(req.body or {})}.get("name", "")
        if not name:
            return 400, {"error": "name is missing"}
        if any(a[1:] == (req.login, name) for a in n.emoji):
            return 404, {"message": "404 Award Emoji Name has already been taken"}
        award = (next(self._ids), req.login, name)
        n.emoji.append(award)
        return 201, self._award_json(p, n, award)

    def h_list_awards(self, req: Request, pid: str, iid: str, nid: str) -> Result:
        p, n = self._note(req, pid, iid, nid)
        return self.paged(req, f"/api/v4/projects/{p.id}/merge_requests/{iid}/notes/{nid}/"
                               "award_emoji", [self._award_json(p, n, a) for a in n.emoji])

    def h_member(self, req: Request, pid: str, uid: str) -> Result:
        p = self._project(req, pid)
        name = next((u for u, i in self.users.items() if i == int(uid)), None)
        if name is None or name not in p.members:
            return 404, {"message": "404 Not found"}
        return 200, {**self.user(name), "access_level": p.members[name], "created_at": _now(),
                     "expires_at": None, "membership_state": "active"}

    def h_group_projects(self, req: Request, gid: str) -> Result:
        """The group's projects the caller is a member of (``include_subgroups``, ``topic``
        and ``archived`` filter them, as GitLab's API does)."""
        group = unquote(gid)
        def flag(name: str) -> bool | None:  # Grape's Boolean: true/false, 1/0, any case
            value = req.query.get(name)
            return None if value is None else value.lower() in ("true", "1", "yes")

        sub = flag("include_subgroups")
        topic = req.query.get("topic")
        archived = flag("archived")
        found = []
        for p in self.projects.values():
            ns = p.path.rpartition("/")[0]
            if not (ns == group or (sub and ns.startswith(group + "/"))):
                continue
            if topic and topic not in p.topics:
                continue
            if archived is not None and p.archived != archived:
                continue
            if req.login in p.members:
                found.append(self.project_json(p))
        if not found and not any(p.path.startswith(group + "/") for p in self.projects.values()):
            return 404, {"message": "404 Group Not Found"}
        return self.paged(req, f"/api/v4/groups/{quote(group, safe='')}/projects", found,
                          default=20)

    def h_group_member(self, req: Request, gid: str, uid: str) -> Result:
        """Members of the group or of a parent group (``all``: inherited ones count)."""
        name = next((u for u, i in self.users.items() if i == int(uid)), None)
        parts = gid.split("/")
        for n in range(len(parts), 0, -1):
            members = self.groups.get("/".join(parts[:n]), {})
            if name is not None and name in members:
                return 200, {**self.user(name), "access_level": members[name],
                             "created_at": _now(), "expires_at": None,
                             "membership_state": "active"}
        if gid not in self.groups:
            return 404, {"message": "404 Group Not Found"}
        return 404, {"message": "404 Not found"}

    # ---------------------------------------------------------------- webhooks ---------------
    def _hook_project(self, p: Project) -> dict[str, Any]:
        ns, _, name = p.path.rpartition("/")
        web = f"{self.url}/{p.path}"
        return {"id": p.id, "name": name, "description": "", "web_url": web,
                "avatar_url": None, "git_ssh_url": f"git@127.0.0.1:{p.path}.git",
                "git_http_url": f"{web}.git", "namespace": ns, "visibility_level": 0,
                "path_with_namespace": p.path, "default_branch": p.default_branch,
                "ci_config_path": None, "homepage": web, "url": f"{web}.git",
                "ssh_url": f"git@127.0.0.1:{p.path}.git", "http_url": f"{web}.git"}

    def _hook_user(self, username: str) -> dict[str, Any]:
        u = self.user(username)
        return {"id": u["id"], "name": u["name"], "username": username,
                "avatar_url": u["avatar_url"], "email": "[REDACTED]"}

    def _hook_mr(self, p: Project, mr: MergeRequest) -> dict[str, Any]:
        full = self.mr_json(p, mr)
        commit = self.commit_json(p, mr.sha)
        return {
            "id": mr.id, "iid": mr.iid, "title": mr.title, "description": mr.description,
            "source_branch": mr.source, "target_branch": mr.target, "source_project_id": p.id,
            "target_project_id": p.id, "author_id": self.users[mr.author], "state": mr.state,
            "draft": full["draft"], "work_in_progress": full["draft"],
            "merge_status": full["merge_status"],
            "detailed_merge_status": full["detailed_merge_status"],
            "merge_when_pipeline_succeeds": mr.auto_merge, "url": full["web_url"],
            "assignee_ids": list(mr.assignee_ids), "reviewer_ids": list(mr.reviewer_ids),
            "labels": [{"id": i + 1, "title": t, "color": "#ededed", "project_id": p.id,
                        "type": "ProjectLabel", "group_id": None, "description": None,
                        "created_at": _hook_time(mr.created_at),
                        "updated_at": _hook_time(mr.created_at), "template": False}
                       for i, t in enumerate(mr.labels)],
            "last_commit": {"id": mr.sha, "message": commit["message"],
                            "title": commit["title"], "timestamp": commit["committed_date"],
                            "url": commit["web_url"],
                            "author": {"name": commit["author_name"],
                                       "email": commit["author_email"]}},
            "created_at": _hook_time(mr.created_at), "updated_at": _hook_time(mr.updated_at)}

    def note_event(self, path: str, iid: int, note_id: int, *, action: str = "create"
                   ) -> dict[str, Any]:
        """The ``Note Hook`` payload of a merge request comment, from the fake's state (the
        shape of GitLab's ``webhook_events.md``; ``noteable_id`` is the MR **id**)."""
        with self.lock:
            p = self.project(path)
            n, mr = p.notes[note_id], p.mrs[iid]
            return {
                "object_kind": "note", "event_type": "note", "user": self._hook_user(n.author),
                "project_id": p.id, "project": self._hook_project(p),
                "repository": {"name": p.path.rpartition("/")[2], "url": f"{self.url}/{p.path}",
                               "description": "", "homepage": f"{self.url}/{p.path}"},
                "object_attributes": {
                    "id": n.id, "note": n.body, "noteable_type": "MergeRequest",
                    "author_id": self.users[n.author], "created_at": _hook_time(n.created_at),
                    "updated_at": _hook_time(n.created_at), "project_id": p.id,
                    "attachment": None, "line_code": None, "commit_id": "",
                    "noteable_id": mr.id, "system": n.system, "st_diff": None,
                    "action": action, "type": None,
                    "url": f"{self.url}/{p.path}/-/merge_requests/{iid}#note_{n.id}"},
                "merge_request": self._hook_mr(p, mr)}

    def merge_request_event(self, path: str, iid: int, *, action: str,
                            user: str | None = None) -> dict[str, Any]:
        """The ``Merge Request Hook`` payload (``action``: open, update, close, merge, ...)."""
        with self.lock:
            p = self.project(path)
            mr = p.mrs[iid]
            attrs = {**self._hook_mr(p, mr), "action": action}
            return {"object_kind": "merge_request", "event_type": "merge_request",
                    "user": self._hook_user(user or mr.author), "project":
                        self._hook_project(p), "object_attributes": attrs,
                    "labels": attrs["labels"], "changes": {},
                    "repository": {"name": p.path.rpartition("/")[2],
                                   "url": f"{self.url}/{p.path}", "description": "",
                                   "homepage": f"{self.url}/{p.path}"},
                    "assignees": [self._hook_user(self._username(i)) for i in mr.assignee_ids],
                    "reviewers": [self._hook_user(self._username(i)) for i in mr.reviewer_ids]}


def _hook_time(iso: str) -> str:
    """Webhooks write times as "2015-05-17 18:21:36 UTC", unlike the REST API's ISO 8601."""
    return iso[:19].replace("T", " ") + " UTC"


def hook_headers(event: str, *, token: str | None = None, uuid: str | None = None,
                 body: bytes | None = None, signing_token: str | None = None,
                 timestamp: int | None = None) -> dict[str, str]:
    """The headers of a GitLab webhook delivery: ``X-Gitlab-Event`` is e.g. ``Note Hook``;
    ``X-Gitlab-Token`` is the configured secret itself (no HMAC); ``Idempotency-Key`` repeats on
    a redelivery. With ``signing_token`` (``whsec_<base64>``) and ``body``, the Standard Webhooks
    signature of GitLab 18's signing tokens is added: ``webhook-signature: v1,<base64 HMAC-SHA256
    of "{webhook-id}.{webhook-timestamp}.{body}">``."""
    key = uuid or str(uuid_module.uuid4())
    headers = {"Content-Type": "application/json", "User-Agent": "GitLab/18.0.0",
               "X-Gitlab-Event": event, "X-Gitlab-Instance": "http://127.0.0.1",
               "X-Gitlab-Webhook-UUID": "00000000-0000-0000-0000-000000000001",
               "X-Gitlab-Event-UUID": key, "Idempotency-Key": key}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    if signing_token is not None and body is not None:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        secret = base64.b64decode(signing_token.removeprefix("whsec_"))
        mac = hmac.new(secret, f"{key}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers.update({"webhook-id": key, "webhook-timestamp": stamp,
                        "webhook-signature": f"v1,{base64.b64encode(mac).decode()}"})
    return headers
