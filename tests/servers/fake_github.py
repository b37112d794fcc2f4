"""A local, stateful fake of the GitHub REST API (plus a sliver of GraphQL), on 127.0.0.1.

Enough GitHub for a promotion bot, driven through the real PyGithub client::

    with FakeGitHub(tmp_path, spec=load_spec()) as gh:      # spec: @octokit/openapi, optional
        gh.add_repo("acme/gitops", files={"prod.yaml": "image: app:1\\n"})
        token = gh.add_user("promoter-bot", token="t0k")
        client = github.Github(base_url=gh.url, auth=github.Auth.Token(token), ...)

State: branches, refs and SHAs live in real bare repositories under ``root`` (served to git
clients at ``<url>/<owner>/<repo>.git`` through :mod:`tests.servers.git_http`, token auth);
pull requests, comments, reactions, labels, reviewers, reviews, assignees, statuses, check runs,
collaborators, branch protection and GitHub Apps live in memory. ``prefix="/api/v3"`` serves
the API as GitHub Enterprise Server does (GraphQL at ``/api/graphql``).

Test API: :meth:`~FakeGitHub.add_repo`, :meth:`~FakeGitHub.add_user` (returns a token),
:meth:`~FakeGitHub.set_permission`, :meth:`~FakeGitHub.add_app` (JWT-verified installation
tokens), :meth:`~FakeGitHub.add_comment` and :meth:`~FakeGitHub.add_review` (other people),
:meth:`~FakeGitHub.clone_url`, :meth:`~FakeGitHub.fail_next`, ``read_only`` tokens,
``Repo.required_contexts`` / ``required_approvals`` / ``allow_auto_merge``, and
:meth:`~FakeGitHub.event` + :func:`signed_headers` for webhook deliveries built from state.

Fidelity rules (each one a real-world behaviour a bot must survive):

* Responses are built from state, then completed from GitHub's OpenAPI description (required
  fields, nullability; see :class:`Shaper`), and every URL points back at this server.
* Every response is recorded (:attr:`FakeGitHub.recorded`) so tests validate all of them
  against the OpenAPI description (``tests/forge/openapi.py``).
* An endpoint the fake does not know answers ``501`` and is listed in
  :attr:`FakeGitHub.unknown`; the test fixtures fail a test that left anything there.
* ``pulls/list`` ignores a ``head`` without ``owner:`` (as GitHub does), a duplicate open PR is
  ``422 A pull request already exists``, reactions are ``200`` when present and ``201`` when new,
  ``mergeable`` is ``null`` until the PR is read again, statuses are an append-only log.
* Branch protection blocks ``pulls/merge`` (405), GraphQL auto-merge is refused in "clean
  status" and merges the PR once the required checks and approvals are there.
* A repository one may not see is ``404``, never ``403``; a read-only token gets
  ``403 Resource not accessible by integration`` on writes.
* :meth:`FakeGitHub.fail_next` injects failures (500, 422, 429 with headers, ...).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt

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

SPEC_PATH = (Path(__file__).resolve().parent.parent / "npm" / "node_modules" / "@octokit"
             / "openapi" / "generated" / "api.github.com.json")
DOCS = "https://docs.github.com/rest"


@lru_cache(maxsize=2)
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any] | None:
    """GitHub's OpenAPI description (parsed once per process), or None when not installed."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Shaper:
    """Complete a partial object so it has every field a ``components/schemas`` entry requires.

    The builders own semantics (ids, URLs, states); the schema supplies type-correct defaults for
    the rest, ``null`` where the field is nullable. Without a spec objects stay as built.
    """

    def __init__(self, spec: dict[str, Any] | None, base: str) -> None:
        self.schemas: dict[str, Any] = spec["components"]["schemas"] if spec else {}
        self.base = base

    def _deref(self, s: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in s:
            s = self.schemas[s["$ref"].rsplit("/", 1)[-1]]
        return s

    def _default(self, s: dict[str, Any], name: str) -> Json:
        s = self._deref(s)
        if s.get("nullable"):
            return None
        for key in ("oneOf", "anyOf"):
            if key in s:
                return self._default(s[key][0], name)
        if "allOf" in s:
            out: dict[str, Any] = {}
            for part in s["allOf"]:
                out.update(self._default(part, name) or {})
            return out
        if "enum" in s:
            return s["enum"][0]
        kind = s.get("type")
        if kind == "object" or "properties" in s:
            return self._fill(s, {})
        defaults = {"array": [], "integer": 0, "number": 0, "boolean": False}
        if kind in defaults:
            return defaults[kind]
        if s.get("format") == "date-time":
            return _now()
        if s.get("format") in ("uri", "uri-template"):
            return f"{self.base}/_/{name}"
        return ""

    def _fill(self, s: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
        s = self._deref(s)
        out = dict(partial)
        for part in s.get("allOf", ()):  # webhook schemas compose objects with allOf
            out = self._fill(part, out)
        props = s.get("properties", {})
        for key in s.get("required", []):
            if key not in out:
                out[key] = self._default(props.get(key, {}), key)
        for key, value in out.items():  # complete nested objects the caller started
            if isinstance(value, dict) and key in props:
                sub = self._object_schema(props[key])
                if sub is not None:
                    out[key] = self._fill(sub, value)
        return out

    def _object_schema(self, s: dict[str, Any]) -> dict[str, Any] | None:
        s = self._deref(s)
        if "properties" in s or "allOf" in s:
            return s
        for key in ("anyOf", "oneOf"):
            for option in s.get(key, ()):
                found = self._object_schema(option)
                if found is not None:
                    return found
        return None

    def shape(self, name: str, partial: dict[str, Any]) -> dict[str, Any]:
        if name not in self.schemas:
            return partial
        return self._fill(self.schemas[name], partial)


# ------------------------------------------------------------------------------ state --------
@dataclass
class Pull:
    number: int
    id: int
    head: str
    base: str
    title: str
    body: str | None
    user: str
    head_sha: str
    draft: bool = False
    state: str = "open"
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviews: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, user, state, sha
    auto_merge: dict[str, Any] | None = None
    mergeable_known: bool = False
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    head_repo: str | None = None  # a fork's full name when the head branch lives there


@dataclass
class IssueComment:
    id: int
    issue: int
    user: str
    body: str
    reactions: list[tuple[int, str, str]] = field(default_factory=list)  # (id, user, content)
    created_at: str = field(default_factory=_now)


@dataclass
class Issue:
    """An issue that is not a pull request (numbered with the pull requests, as on GitHub)."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    closed_at: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    allow_auto_merge: bool = True  # the repository setting "Allow auto-merge"
    # branch protection of the default branch: required status checks and approvals
    required_contexts: tuple[str, ...] = ()
    required_approvals: int = 0
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role_name
    labels: dict[str, int] = field(default_factory=dict)  # name -> id
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, IssueComment] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    archived: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def resolve(self, ref: str) -> str | None:
        return resolve(self.path, ref)

    def git(self, *args: str) -> str:
        return git("--git-dir", str(self.path), *args)


@dataclass(frozen=True)
class App:
    id: int
    slug: str
    public_key: str
    installations: dict[str, int]  # repo full name -> installation id


class FakeGitHub(FakeForgeServer):
    """The fake server. Start with ``with`` (or :meth:`start`/:meth:`stop`)."""

    name = "fake GitHub"
    read_only_message = "Resource not accessible by integration"
    extra_headers = {"X-GitHub-Media-Type": "github.v3; format=json",
                     "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
                     "X-RateLimit-Reset": "4102444800"}

    def __init__(self, root: Path, *, spec: dict[str, Any] | None = None,
                 prefix: str = "") -> None:
        """``prefix="/api/v3"`` serves the API as GitHub Enterprise Server does."""
        super().__init__(root)
        self.spec = spec
        self.prefix = prefix
        self.api = self.url + prefix
        self._ids = itertools.count(1001)
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, int] = {}
        self.apps: dict[int, App] = {}
        self.teams: dict[str, set[str]] = {}  # "org/team-slug" -> member logins
        self.orgs: set[str] = set()  # owners that are organisations (the rest are users)
        self.shaper = Shaper(spec, self.url)

    # ---------------------------------------------------------------- setup API (tests) -------
    def add_user(self, login: str, *, token: str | None = None) -> str:
        """Register a user (and a token for it); returns the token."""
        with self.lock:
            self.users.setdefault(login, next(self._ids))
            tok = token or f"ghp_{secrets.token_hex(12)}"
            self.tokens[tok] = login
            return tok

    def add_repo(self, full_name: str, *, files: dict[str, str] | None = None,
                 default_branch: str = "main", topics: tuple[str, ...] = (),
                 archived: bool = False, org: bool = False) -> Repo:
        """A repository (a bare git repo with ``files`` on ``default_branch``); ``org``: its
        owner is an organisation (listed by ``GET /orgs/{org}/repos``)."""
        owner, name = full_name.split("/")
        self.users.setdefault(owner, next(self._ids))
        if org:
            self.orgs.add(owner)
        path = self.root / f"{full_name}.git"
        init_bare(path, branch=default_branch, files=files)
        repo = Repo(id=next(self._ids), owner=owner, name=name, path=path,
                    default_branch=default_branch, collaborators={owner: "admin"},
                    topics=tuple(topics), archived=archived)
        self.repos[full_name] = repo
        return repo

    def set_permission(self, full_name: str, login: str, role: str | None) -> None:
        """Make ``login`` a collaborator with ``role`` (read/triage/write/maintain/admin or a
        custom role name); None removes them."""
        self.users.setdefault(login, next(self._ids))
        collabs = self.repos[full_name].collaborators
        if role is None:
            collabs.pop(login, None)
        else:
            collabs[login] = role

    def add_team_member(self, team: str, login: str) -> None:
        """Make ``login`` an active member of ``team`` (``org/team-slug``)."""
        with self.lock:
            self.users.setdefault(login, next(self._ids))
            self.teams.setdefault(team.lower(), set()).add(login)

    def add_app(self, app_id: int, slug: str, public_key_pem: str,
                installations: dict[str, int]) -> None:
        self.apps[app_id] = App(app_id, slug, public_key_pem, installations)
        self.users.setdefault(f"{slug}[bot]", next(self._ids))

    def clone_url(self, full_name: str, token: str) -> str:
        return f"http://x-access-token:{quote(token, safe='')}@{self.url.split('://')[1]}" \
               f"/{full_name}.git"

    def add_review(self, full_name: str, number: int, login: str, state: str = "APPROVED"
                   ) -> None:
        """A review by someone: APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED."""
        with self.lock:
            p = self.repos[full_name].pulls[number]
            self.users.setdefault(login, next(self._ids))
            p.reviews.append((next(self._ids), login, state, p.head_sha))
            self._auto_merge(self.repos[full_name])

    def add_comment(self, full_name: str, number: int, login: str, body: str) -> int:
        """A comment by someone (a command for the bot); returns its id."""
        with self.lock:
            repo = self.repos[full_name]
            self.users.setdefault(login, next(self._ids))
            cid = next(self._ids)
            repo.comments[cid] = IssueComment(cid, number, login, body)
            return cid

    def add_fork_pull(self, full_name: str, fork: str, *, head: str, base: str,
                      title: str = "A change from a fork") -> int:
        """An open pull request into ``full_name`` from branch ``head`` of the repository
        ``fork`` (added with :meth:`add_repo`); returns its number."""
        with self.lock:
            repo, source = self.repos[full_name], self.repos[fork]
            sha = source.resolve(f"refs/heads/{head}")
            assert sha, f"{fork} has no branch {head}"
            n = max([*repo.pulls, *(c.issue for c in repo.comments.values()), 0]) + 1
            repo.pulls[n] = Pull(number=n, id=next(self._ids), head=head, base=base,
                                 title=title, body=None, user=source.owner, head_sha=sha,
                                 head_repo=fork)
            return n

    # ---------------------------------------------------------------- builders ---------------
    def _repo_url(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def user(self, login: str) -> dict[str, Any]:
        q = quote(login, safe="")  # "app[bot]" -> "app%5Bbot%5D", as GitHub does
        uid = self.users.setdefault(login, next(self._ids))
        return self.shaper.shape("simple-user", {
            "login": login, "id": uid, "node_id": f"U_{uid}", "gravatar_id": "",
            "url": f"{self.api}/users/{q}", "html_url": f"{self.url}/{q}",
            "avatar_url": f"{self.url}/avatars/u/{uid}",
            "type": "Bot" if login.endswith("[bot]") else
                    "Organization" if login in self.orgs else "User", "site_admin": False})

    def repository(self, repo: Repo, schema: str = "repository") -> dict[str, Any]:
        r = self._repo_url(repo)
        host = self.url.split("://")[1]
        return self.shaper.shape(schema, {
            "id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name,
            "full_name": repo.full_name, "owner": self.user(repo.owner), "private": True,
            "url": r, "html_url": f"{self.url}/{repo.full_name}",
            "clone_url": f"{self.url}/{repo.full_name}.git",
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "svn_url": f"{self.url}/{repo.full_name}",
            "default_branch": repo.default_branch, "pulls_url": r + "/pulls{/number}",
            "issues_url": r + "/issues{/number}", "statuses_url": r + "/statuses/{sha}",
            "git_refs_url": r + "/git/refs{/sha}", "labels_url": r + "/labels{/name}",
            "visibility": "private", "has_issues": True,
            "allow_auto_merge": repo.allow_auto_merge,
            "created_at": "2025-01-01T00:00:00Z", "updated_at": _now(), "pushed_at": _now(),
            "is_template": False, "topics": list(repo.topics), "archived": repo.archived,
            "custom_properties": {},
            "web_commit_signoff_required": False,
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True,
                            "pull": True}})

    def label(self, repo: Repo, name: str) -> dict[str, Any]:
        lid = repo.labels.setdefault(name, next(self._ids))
        return self.shaper.shape("label", {
            "id": lid, "node_id": f"LA_{lid}", "name": name, "color": "ededed",
            "url": f"{self._repo_url(repo)}/labels/{quote(name, safe='')}",
            "default": False, "description": ""})

    def pull(self, repo: Repo, p: Pull, schema: str = "pull-request") -> dict[str, Any]:
        r = self._repo_url(repo)
        n = p.number
        source = self.repos[p.head_repo] if p.head_repo else repo
        head_sha = (source.resolve(f"refs/heads/{p.head}") if p.state == "open" else None) \
            or p.head_sha
        p.head_sha = head_sha

        def side(ref: str, sha: str | None, where: Repo = repo) -> dict[str, Any]:
            rendered = self.repository(where)
            return {"label": f"{where.owner}:{ref}", "ref": ref, "sha": sha or "",
                    "repo": rendered, "user": rendered["owner"]}

        links = {"self": f"{r}/pulls/{n}", "html": f"{self.url}/{repo.full_name}/pull/{n}",
                 "issue": f"{r}/issues/{n}", "comments": f"{r}/issues/{n}/comments",
                 "review_comments": f"{r}/pulls/{n}/comments",
                 "review_comment": f"{r}/pulls/comments{{/number}}",
                 "commits": f"{r}/pulls/{n}/commits", "statuses": f"{r}/statuses/{head_sha}"}
        obj: dict[str, Any] = {
            "id": p.id, "node_id": f"PR_{p.id}", "number": n, "state": p.state,
            "title": p.title, "body": p.body, "draft": p.draft, "locked": False,
            "url": links["self"], "html_url": links["html"], "issue_url": links["issue"],
            "comments_url": links["comments"], "statuses_url": links["statuses"],
            "commits_url": links["commits"], "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "diff_url": f"{links['html']}.diff", "patch_url": f"{links['html']}.patch",
            "user": self.user(p.user), "labels": [self.label(repo, x) for x in p.labels],
            "head": side(p.head, head_sha, source),
            "base": side(p.base, repo.resolve(f"refs/heads/{p.base}")),
            "assignee": self.user(p.assignees[0]) if p.assignees else None,
            "assignees": [self.user(a) for a in p.assignees],
            "requested_reviewers": [self.user(u) for u in p.reviewers], "requested_teams": [],
            "merged_at": p.merged_at, "merge_commit_sha": p.merge_commit_sha,
            "closed_at": p.closed_at, "auto_merge": p.auto_merge, "milestone": None,
            "active_lock_reason": None,
            "author_association": "CONTRIBUTOR", "created_at": p.created_at,
            "updated_at": p.updated_at,
            "_links": {k: {"href": v} for k, v in links.items()}}
        if schema == "pull-request":
            merged = p.merged_at is not None
            obj.update({
                "merged": merged, "merged_by": self.user(repo.owner) if merged else None,
                "mergeable": (p.state == "open") if p.mergeable_known else None,
                "mergeable_state": ("unknown" if not p.mergeable_known
                                    else "blocked" if self.blocked(repo, p) else "clean"),
                "rebaseable": None, "maintainer_can_modify": False, "comments": 0,
                "review_comments": 0, "commits": 1, "additions": 1, "deletions": 1,
                "changed_files": 1})
        return self.shaper.shape(schema, obj)

    def comment(self, repo: Repo, c: IssueComment) -> dict[str, Any]:
        r = self._repo_url(repo)
        return self.shaper.shape("issue-comment", {
            "id": c.id, "node_id": f"IC_{c.id}", "body": c.body, "user": self.user(c.user),
            "url": f"{r}/issues/comments/{c.id}",
            "html_url": f"{self.url}/{repo.full_name}/pull/{c.issue}#issuecomment-{c.id}",
            "issue_url": f"{r}/issues/{c.issue}", "author_association": "MEMBER",
            "created_at": c.created_at, "updated_at": c.created_at})

    def commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        r = self._repo_url(repo)
        fields = repo.git("show", "-s", "--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce"
                          "%x00%cI%x00%B", sha).split("\x00")
        tree, parents, an, ae, ad, cn, ce, cd, message = fields

        def person(name: str, email: str, date: str) -> dict[str, str]:
            return {"name": name, "email": email, "date": date.replace("+00:00", "Z")}

        return self.shaper.shape("commit", {
            "sha": sha, "node_id": f"C_{sha}", "url": f"{r}/commits/{sha}",
            "html_url": f"{self.url}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{r}/commits/{sha}/comments",
            "commit": {"url": f"{r}/git/commits/{sha}", "message": message.strip(),
                       "author": person(an, ae, ad), "committer": person(cn, ce, cd),
                       "comment_count": 0,
                       "tree": {"sha": tree, "url": f"{r}/git/trees/{tree}"}},
            "author": None, "committer": None, "files": [],
            "parents": [{"sha": x, "url": f"{r}/commits/{x}",
                         "html_url": f"{self.url}/{repo.full_name}/commit/{x}"}
                        for x in parents.split()]})

    def git_ref(self, repo: Repo, ref: str) -> dict[str, Any]:
        sha = repo.resolve(ref)
        r = self._repo_url(repo)
        return self.shaper.shape("git-ref", {
            "ref": ref, "node_id": f"REF_{ref}", "url": f"{r}/git/refs/{ref.removeprefix('refs/')}",
            "object": {"sha": sha, "type": "commit", "url": f"{r}/git/commits/{sha}"}})

    def check_run(self, repo: Repo, run: dict[str, Any]) -> dict[str, Any]:
        r = self._repo_url(repo)
        cid = run["id"]
        return self.shaper.shape("check-run", {
            "id": cid, "node_id": f"CR_{cid}", "name": run["name"], "head_sha": run["head_sha"],
            "status": run["status"], "conclusion": run["conclusion"],
            "url": f"{r}/check-runs/{cid}", "html_url": f"{self.url}/{repo.full_name}/runs/{cid}",
            "external_id": run.get("external_id") or "", "details_url": run.get("details_url"),
            "started_at": run["started_at"], "completed_at": run.get("completed_at"),
            "output": {"title": run["output"].get("title"),
                       "summary": run["output"].get("summary"),
                       "text": run["output"].get("text"), "annotations_count": 0,
                       "annotations_url": f"{r}/check-runs/{cid}/annotations"},
            "check_suite": {"id": 1}, "pull_requests": [], "app": self._app_object(None)})

    def _app_object(self, app: App | None) -> dict[str, Any]:
        slug, aid = (app.slug, app.id) if app else ("promoter", 1)
        return self.shaper.shape("integration", {
            "id": aid, "slug": slug, "name": slug, "node_id": f"A_{aid}",
            "owner": self.user("github"), "description": None,
            "external_url": f"{self.url}/apps/{slug}", "html_url": f"{self.url}/apps/{slug}",
            "created_at": _now(), "updated_at": _now(), "permissions": {}, "events": []})

    # ---------------------------------------------------------------- server hooks ----------
    def authenticate(self, headers: Message) -> tuple[str | None, str | None]:
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() in ("token", "bearer") and value in self.tokens:
            return self.tokens[value], value
        if scheme.lower() == "bearer" and value.count(".") == 2:
            return None, value  # a JWT: the app routes check it
        return None, None

    def anonymous_ok(self, op: str) -> bool:
        return op.startswith("apps/")

    def error_body(self, status: int, message: str) -> Json:
        return {"message": message, "documentation_url": DOCS}

    def api_path(self, path: str) -> str | None:
        if path == "/api/graphql":  # GitHub Enterprise: <host>/api/v3 REST, <host>/api/graphql
            return "/graphql"
        return path.removeprefix(self.prefix) if path.startswith(self.prefix + "/") else None

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        repo = r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        table: list[tuple[str, str, str, Handler]] = [
            ("GET", r"^/user$", "users/get-authenticated", self.h_me),
            ("GET", r"^/app$", "apps/get-authenticated", self.h_app),
            ("GET", r"^/users/(?P<login>[^/]+)$", "users/get-by-username", self.h_get_user),
            ("GET", r"^/orgs/(?P<org>[^/]+)/repos$", "repos/list-for-org", self.h_org_repos),
            ("GET", r"^/users/(?P<login>[^/]+)/repos$", "repos/list-for-user",
             self.h_user_repos),
            ("POST", r"^/app/installations/(?P<iid>\d+)/access_tokens$",
             "apps/create-installation-access-token", self.h_access_token),
            ("POST", r"^/graphql$", "graphql", self.h_graphql),
            ("GET", repo + r"$", "repos/get", self.h_repo),
            ("GET", repo + r"/installation$", "apps/get-repo-installation", self.h_installation),
            ("GET", repo + r"/branches/(?P<branch>.+)$", "repos/get-branch", self.h_branch),
            ("GET", repo + r"/git/ref/(?P<ref>.+)$", "git/get-ref", self.h_get_ref),
            ("POST", repo + r"/git/refs$", "git/create-ref", self.h_create_ref),
            ("PATCH", repo + r"/git/refs/(?P<ref>.+)$", "git/update-ref", self.h_update_ref),
            ("DELETE", repo + r"/git/refs/(?P<ref>.+)$", "git/delete-ref", self.h_delete_ref),
            ("GET", repo + r"/pulls$", "pulls/list", self.h_list_pulls),
            ("POST", repo + r"/pulls$", "pulls/create", self.h_create_pull),
            ("GET", repo + r"/pulls/(?P<n>\d+)$", "pulls/get", self.h_get_pull),
            ("PATCH", repo + r"/pulls/(?P<n>\d+)$", "pulls/update", self.h_update_pull),
            ("PUT", repo + r"/pulls/(?P<n>\d+)/merge$", "pulls/merge", self.h_merge),
            ("POST", repo + r"/pulls/(?P<n>\d+)/requested_reviewers$",
             "pulls/request-reviewers", self.h_request_reviewers),
            ("GET", repo + r"/pulls/(?P<n>\d+)/reviews$", "pulls/list-reviews",
             self.h_list_reviews),
            ("GET", repo + r"/pulls/(?P<n>\d+)/requested_reviewers$",
             "pulls/list-requested-reviewers", self.h_list_reviewers),
            ("POST", repo + r"/issues/(?P<n>\d+)/assignees$", "issues/add-assignees",
             self.h_add_assignees),
            ("GET", repo + r"/commits/(?P<sha>[0-9a-f]{40})/pulls$",
             "repos/list-pull-requests-associated-with-commit", self.h_pulls_of_commit),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/statuses$",
             "repos/list-commit-statuses-for-ref", self.h_list_statuses),
            ("PATCH", repo + r"/issues/comments/(?P<cid>\d+)$", "issues/update-comment",
             self.h_update_comment),
            ("GET", repo + r"/labels$", "issues/list-labels-for-repo", self.h_repo_labels),
            ("POST", repo + r"/labels$", "issues/create-label", self.h_create_label),
            ("GET", repo + r"/labels/(?P<label>[^/]+)$", "issues/get-label", self.h_get_label),
            ("GET", repo + r"/issues$", "issues/list-for-repo", self.h_list_issues),
            ("POST", repo + r"/issues$", "issues/create", self.h_create_issue),
            ("GET", repo + r"/issues/(?P<n>\d+)$", "issues/get", self.h_get_issue),
            ("PATCH", repo + r"/issues/(?P<n>\d+)$", "issues/update", self.h_update_issue),
            ("GET", repo + r"/issues/(?P<n>\d+)/comments$", "issues/list-comments",
             self.h_list_comments),
            ("POST", repo + r"/issues/(?P<n>\d+)/comments$", "issues/create-comment",
             self.h_create_comment),
            ("GET", repo + r"/issues/comments/(?P<cid>\d+)$", "issues/get-comment",
             self.h_get_comment),
            ("POST", repo + r"/issues/comments/(?P<cid>\d+)/reactions$",
             "reactions/create-for-issue-comment", self.h_react),
            ("GET", repo + r"/issues/(?P<n>\d+)/labels$", "issues/list-labels-on-issue",
             self.h_list_labels),
            ("POST", repo + r"/issues/(?P<n>\d+)/labels$", "issues/add-labels",
             self.h_add_labels),
            ("PUT", repo + r"/issues/(?P<n>\d+)/labels$", "issues/set-labels", self.h_set_labels),
            ("DELETE", repo + r"/issues/(?P<n>\d+)/labels$", "issues/remove-all-labels",
             self.h_remove_all_labels),
            ("DELETE", repo + r"/issues/(?P<n>\d+)/labels/(?P<label>[^/]+)$",
             "issues/remove-label", self.h_remove_label),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)$", "repos/get-commit", self.h_commit),
            ("POST", repo + r"/statuses/(?P<sha>[0-9a-f]{40})$", "repos/create-commit-status",
             self.h_create_status),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/status$",
             "repos/get-combined-status-for-ref", self.h_combined_status),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/check-runs$", "checks/list-for-ref",
             self.h_list_check_runs),
            ("POST", repo + r"/check-runs$", "checks/create", self.h_create_check_run),
            ("PATCH", repo + r"/check-runs/(?P<cid>\d+)$", "checks/update",
             self.h_update_check_run),
            ("GET", repo + r"/check-runs/(?P<cid>\d+)$", "checks/get", self.h_get_check_run),
            ("GET", repo + r"/collaborators/(?P<user>[^/]+)/permission$",
             "repos/get-collaborator-permission-level", self.h_permission),
            ("GET", r"^/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/memberships/(?P<user>[^/]+)$",
             "teams/get-membership-for-user-in-org", self.h_team_membership),
        ]
        return table

    # ---------------------------------------------------------------- helpers ----------------
    @staticmethod
    def _error(status: int, message: str, **extra: Any) -> Result:
        return status, {"message": message, "documentation_url": DOCS, **extra}

    def _422(self, message: str, resource: str = "PullRequest") -> Result:
        return self._error(422, "Validation Failed",
                           errors=[{"resource": resource, "code": "custom", "message": message}])

    def _repo(self, req: Request, owner: str, name: str) -> Repo | None:
        """The repository if the caller may see it (404, never 403, otherwise)."""
        repo = self.repos.get(f"{owner}/{name}")
        if repo is None:
            return None
        if req.login in repo.collaborators or any(
                repo.full_name in app.installations and req.login == f"{app.slug}[bot]"
                for app in self.apps.values()):
            return repo
        return None

    def _need_repo(self, req: Request, owner: str, name: str) -> Repo:
        repo = self._repo(req, owner, name)
        if repo is None:
            raise Abort(404, {"message": "Not Found", "documentation_url": DOCS})
        return repo

    def _need_pull(self, req: Request, owner: str, name: str, n: str) -> tuple[Repo, Pull]:
        repo = self._need_repo(req, owner, name)
        p = repo.pulls.get(int(n))
        if p is None:
            raise Abort(404, {"message": "Not Found", "documentation_url": DOCS})
        return repo, p

    # ---------------------------------------------------------------- handlers ---------------
    def h_me(self, req: Request) -> Result:
        assert req.login is not None
        if req.login.endswith("[bot]"):
            return self._error(403, "Resource not accessible by integration")
        return 200, self.shaper.shape("private-user", {**self.user(req.login),
                                                       "name": req.login})

    def _jwt_app(self, req: Request) -> App | None:
        if req.token is None:
            return None
        try:
            claims = jwt.decode(req.token, options={"verify_signature": False})
            app = self.apps.get(int(claims["iss"]))
            if app is None:
                return None
            jwt.decode(req.token, app.public_key, algorithms=["RS256"])
        except (jwt.PyJWTError, KeyError, ValueError):
            return None
        return app

    def h_app(self, req: Request) -> Result:
        app = self._jwt_app(req)
        if app is None:
            return self._error(401, "A JSON web token could not be decoded")
        return 200, self._app_object(app)

    def h_installation(self, req: Request, owner: str, name: str) -> Result:
        app = self._jwt_app(req)
        if app is None:
            return self._error(401, "A JSON web token could not be decoded")
        iid = app.installations.get(f"{owner}/{name}")
        if iid is None:
            return self._error(404, "Not Found")
        return 200, self.shaper.shape("installation", {
            "id": iid, "app_id": app.id, "app_slug": app.slug, "target_id": 1,
            "target_type": "Organization", "account": self.user(owner),
            "access_tokens_url": f"{self.api}/app/installations/{iid}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.url}/settings/installations/{iid}",
            "repository_selection": "selected", "events": [], "permissions": {},
            "created_at": _now(), "updated_at": _now(), "single_file_name": None})

    def h_access_token(self, req: Request, iid: str) -> Result:
        app = self._jwt_app(req)
        if app is None:
            return self._error(401, "A JSON web token could not be decoded")
        if int(iid) not in app.installations.values():
            return self._error(404, "Not Found")
        token = self.add_user(f"{app.slug}[bot]", token=f"ghs_{secrets.token_hex(12)}")
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return 201, self.shaper.shape("installation-token", {
            "token": token, "expires_at": expires, "permissions": {},
            "repository_selection": "selected"})

    def h_graphql(self, req: Request) -> Result:
        query = (req.body or {}).get("query", "")
        m = re.search(r"\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\s*\(", query)
        if not m:
            self.unknown.append(f"POST /graphql {query[:80]!r}")
            return 200, {"errors": [{"message": "fake GitHub: unsupported GraphQL document"}]}
        inp = (req.body.get("variables") or {}).get("input") or {}
        node = inp.get("pullRequestId")
        for repo in self.repos.values():
            for p in repo.pulls.values():
                if f"PR_{p.id}" == node and self._repo(req, repo.owner, repo.name):
                    enable = m[1].startswith("enable")
                    problem = ("Pull request is closed" if p.state != "open" else
                               "Pull request Auto merge is not allowed for this repository"
                               if enable and not repo.allow_auto_merge else
                               "Pull request Pull request is in clean status"
                               if enable and self.blocked(repo, p) is None else None)
                    if problem:
                        return 200, {"data": {m[1]: None}, "errors": [{
                            "type": "UNPROCESSABLE", "path": [m[1]], "message": problem}]}
                    if m[1].startswith("enable"):
                        p.auto_merge = {
                            "enabled_by": self.user(req.login or ""),
                            "merge_method": inp.get("mergeMethod", "MERGE").lower(),
                            "commit_title": inp.get("commitHeadline", ""),
                            "commit_message": inp.get("commitBody", "")}
                    else:
                        p.auto_merge = None
                    actor = {"login": req.login, "url": f"{self.url}/{req.login}",
                             "avatarUrl": "", "resourcePath": f"/{req.login}"}
                    return 200, {"data": {m[1]: {"actor": actor, "clientMutationId": None}}}
        return 200, {"data": {m[1]: None}, "errors": [{
            "type": "NOT_FOUND", "path": [m[1]],
            "message": f"Could not resolve to a node with the global id of '{node}'"}]}

    def h_repo(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        return 200, self.repository(repo, "full-repository")

    def h_branch(self, req: Request, owner: str, name: str, branch: str) -> Result:
        repo = self._repo(req, owner, name)
        sha = repo.resolve(f"refs/heads/{branch}") if repo else None
        if repo is None or sha is None:
            return self._error(404, "Branch not found")
        r = self._repo_url(repo)
        return 200, self.shaper.shape("branch-with-protection", {
            "name": branch, "commit": self.commit(repo, sha), "protected": False,
            "_links": {"html": f"{self.url}/{repo.full_name}/tree/{branch}",
                       "self": f"{r}/branches/{quote(branch, safe='')}"},
            "protection": {"enabled": False},
            "protection_url": f"{r}/branches/{branch}/protection"})

    def h_get_ref(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        if repo is None or not repo.resolve(f"refs/{ref}"):
            return self._error(404, "Not Found")
        return 200, self.git_ref(repo, f"refs/{ref}")

    def h_create_ref(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        ref, sha = req.body.get("ref", ""), req.body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            return self._error(422, "Reference name must start with 'refs/' and have at least "
                                    "two slashes.")
        if repo.resolve(ref):
            return self._error(422, "Reference already exists")
        if not repo.resolve(sha):
            return self._error(422, "Object does not exist")
        repo.git("update-ref", ref, sha)
        return 201, self.git_ref(repo, ref)

    def h_update_ref(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        old = repo.resolve(f"refs/{ref}") if repo else None
        if repo is None or old is None:
            return self._error(422, "Reference does not exist")
        sha = req.body.get("sha", "")
        if not repo.resolve(sha):
            return self._error(422, "Object does not exist")
        if not req.body.get("force") and subprocess.run(
                ["git", "--git-dir", str(repo.path), "merge-base", "--is-ancestor", old, sha],
                capture_output=True).returncode != 0:
            return self._error(422, "Update is not a fast forward")
        repo.git("update-ref", f"refs/{ref}", sha)
        return 200, self.git_ref(repo, f"refs/{ref}")

    def h_delete_ref(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        if repo is None or not repo.resolve(f"refs/{ref}"):
            return self._error(422, "Reference does not exist")
        repo.git("update-ref", "-d", f"refs/{ref}")
        return 204, None

    def h_list_pulls(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        q = req.query
        state, head, base = q.get("state", "open"), q.get("head"), q.get("base")
        if head is not None and ":" not in head:
            head = None  # GitHub silently ignores a head without "owner:" and lists everything
        out = [p for p in repo.pulls.values()
               if (state == "all" or p.state == state)
               and (head is None or f"{(p.head_repo or repo.full_name).split('/')[0]}:{p.head}"
                    == head)
               and (base is None or p.base == base)]
        key: Callable[[Pull], Any] = {
            "updated": lambda p: p.updated_at, "popularity": lambda p: p.number,
            "long-running": lambda p: p.created_at}.get(q.get("sort", ""), lambda p: p.number)
        desc = q.get("direction", "desc" if q.get("sort") in (None, "created") else "asc")
        out.sort(key=lambda p: (key(p), p.number), reverse=desc == "desc")
        if q.get("sort") is None and "direction" not in q:
            out.sort(key=lambda p: p.number, reverse=True)
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/pulls",
                           [self.pull(repo, p, "pull-request-simple") for p in out])

    def h_create_pull(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        body = req.body or {}
        head, base = body.get("head", ""), body.get("base", "")
        head = head.split(":", 1)[1] if ":" in head else head
        head_sha = repo.resolve(f"refs/heads/{head}")
        if not head_sha:
            return self._error(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if not repo.resolve(f"refs/heads/{base}"):
            return self._error(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "base", "code": "invalid"}])
        if any(p.head == head and p.base == base and p.state == "open" and p.head_repo is None
               for p in repo.pulls.values()):
            return self._422(f"A pull request already exists for {repo.owner}:{head}.")
        if repo.resolve(f"refs/heads/{base}") == head_sha:
            return self._422(f"No commits between {base} and {head}")
        n = self._next_number(repo)
        assert req.login is not None
        repo.pulls[n] = Pull(number=n, id=next(self._ids), head=head, base=base,
                             title=body.get("title", ""), body=body.get("body"), user=req.login,
                             head_sha=head_sha, draft=bool(body.get("draft")))
        return 201, self.pull(repo, repo.pulls[n])

    def h_get_pull(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        out = self.pull(repo, p)
        p.mergeable_known = True  # GitHub computes mergeability in the background
        return 200, out

    def h_update_pull(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        body = req.body or {}
        if body.get("state") not in (None, "open", "closed"):
            return self._error(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "state", "code": "invalid"}])
        for key in ("title", "body", "base"):
            if key in body:
                setattr(p, key, body[key])
        if body.get("state") == "closed" and p.state == "open":
            p.state, p.closed_at, p.auto_merge = "closed", _now(), None
        elif body.get("state") == "open" and p.state == "closed" and p.merged_at is None:
            p.state, p.closed_at = "open", None
        p.updated_at = _now()
        return 200, self.pull(repo, p)

    def blocked(self, repo: Repo, p: Pull) -> str | None:
        """Why branch protection keeps ``p`` from merging now, or None (GitHub's wording)."""
        if p.base != repo.default_branch:
            return None
        sha = repo.resolve(f"refs/heads/{p.head}") or p.head_sha
        newest = {st["context"]: st["state"] for st in repo.statuses if st["sha"] == sha}
        green = {context for context, state in newest.items() if state == "success"}
        green |= {r["name"] for r in repo.check_runs.values() if r["head_sha"] == sha
                  and r["status"] == "completed" and r["conclusion"] in ("success", "neutral",
                                                                         "skipped")}
        latest = {login: state for _, login, state, _ in p.reviews
                  if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")}
        for context in repo.required_contexts:
            if context not in green:
                return f'Required status check "{context}" is expected.'
        approved = sum(1 for state in latest.values() if state == "APPROVED")
        if approved < repo.required_approvals:
            return (f"At least {repo.required_approvals} approving review"
                    f"{'s are' if repo.required_approvals > 1 else ' is'} required by reviewers "
                    "with write access.")
        return None

    def _merge(self, repo: Repo, p: Pull, method: str, title: str | None) -> str | None:
        """Merge ``p`` into its base in the bare repository; the merge commit, or None on a
        conflict."""
        head = repo.resolve(f"refs/heads/{p.head}") or p.head_sha
        sha = merge_into(repo.path, p.base, head, squash=method in ("squash", "rebase"),
                         message=title or f"Merge pull request #{p.number} from {p.head}")
        if sha is None:
            return None
        p.head_sha, p.state, p.merged_at, p.closed_at = head, "closed", _now(), _now()
        p.merge_commit_sha, p.auto_merge = sha, None
        return sha

    def _auto_merge(self, repo: Repo) -> None:
        """Merge every PR whose auto-merge is on and whose protection is now satisfied."""
        for p in list(repo.pulls.values()):
            if p.state == "open" and p.auto_merge and self.blocked(repo, p) is None:
                self._merge(repo, p, p.auto_merge.get("merge_method", "merge"), None)

    def h_merge(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        body = req.body or {}
        head = repo.resolve(f"refs/heads/{p.head}") or p.head_sha
        if p.state != "open":
            return self._error(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != head:
            return self._error(409, "Head branch was modified. Review and try the merge again.")
        reason = self.blocked(repo, p)
        if reason:
            return self._error(405, f"Repository rule violations found\n\n{reason}")
        sha = self._merge(repo, p, body.get("merge_method", "merge"), body.get("commit_title"))
        if sha is None:
            return self._error(405, "Pull Request is not mergeable")
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def h_request_reviewers(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        users = (req.body or {}).get("reviewers", [])
        strangers = [u for u in users if u not in repo.collaborators]
        if strangers:
            return self._422("Reviews may only be requested from collaborators. One or more of "
                             "the users or teams you specified is not a collaborator of the "
                             f"{repo.full_name} repository.")
        p.reviewers.extend(u for u in users if u not in p.reviewers)
        return 201, self.pull(repo, p, "pull-request-simple")

    def _issue_json(self, repo: Repo, item: Pull | Issue, **extra: Any) -> dict[str, Any]:
        """The ``issue`` object of a plain issue or of a pull request (``extra`` adds its
        ``pull_request`` link and draft flag)."""
        r = self._repo_url(repo)
        n = item.number
        kind = "pull" if isinstance(item, Pull) else "issues"
        assignees = item.assignees if isinstance(item, Pull) else []
        return self.shaper.shape("issue", {
            "id": item.id, "node_id": f"I_{item.id}", "number": n, "title": item.title,
            "body": item.body, "state": item.state, "locked": False,
            "user": self.user(item.user), "labels": [self.label(repo, x) for x in item.labels],
            "assignee": self.user(assignees[0]) if assignees else None,
            "assignees": [self.user(a) for a in assignees], "milestone": None,
            "comments": sum(1 for c in repo.comments.values() if c.issue == n),
            "url": f"{r}/issues/{n}", "html_url": f"{self.url}/{repo.full_name}/{kind}/{n}",
            "repository_url": r, "labels_url": f"{r}/issues/{n}/labels{{/name}}",
            "comments_url": f"{r}/issues/{n}/comments", "events_url": f"{r}/issues/{n}/events",
            "closed_at": item.closed_at, "created_at": item.created_at,
            "updated_at": item.updated_at, "performed_via_github_app": None,
            "author_association": "CONTRIBUTOR" if kind == "pull" else "MEMBER", **extra})

    def _issue(self, repo: Repo, p: Pull) -> dict[str, Any]:
        n, web = p.number, f"{self.url}/{repo.full_name}/pull/{p.number}"
        return self._issue_json(repo, p, draft=p.draft, pull_request={
            "url": f"{self._repo_url(repo)}/pulls/{n}", "html_url": web,
            "diff_url": f"{web}.diff", "patch_url": f"{web}.patch", "merged_at": p.merged_at})

    @staticmethod
    def _next_number(repo: Repo) -> int:
        return max([*repo.pulls, *repo.issues, *(c.issue for c in repo.comments.values()),
                    0]) + 1

    def _plain_issue(self, repo: Repo, i: Issue) -> dict[str, Any]:
        return self._issue_json(repo, i)

    def edit_issue(self, full_name: str, number: int, body: str) -> None:
        """Someone edits an issue's body in the web UI (a ticked checkbox)."""
        i = self.repos[full_name].issues[number]
        i.body, i.updated_at = body, _now()

    def h_list_issues(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        q = req.query
        state = q.get("state", "open")
        wanted = [x for x in q.get("labels", "").split(",") if x]
        found: list[tuple[str, int, dict[str, Any]]] = []
        for i in repo.issues.values():
            if (state == "all" or i.state == state) and all(x in i.labels for x in wanted):
                found.append((i.created_at, i.number, self._plain_issue(repo, i)))
        for p in repo.pulls.values():  # GitHub lists pull requests as issues too
            issue_state = "open" if p.state == "open" else "closed"
            if (state == "all" or issue_state == state) and all(x in p.labels for x in wanted):
                found.append((p.created_at, p.number, self._issue(repo, p)))
        desc = q.get("direction", "desc") == "desc"
        found.sort(key=lambda f: (f[0], f[1]), reverse=desc)
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/issues",
                          [f[2] for f in found])

    def h_create_issue(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        body = req.body or {}
        title = body.get("title")
        if not isinstance(title, str) or not title:
            return self._422("title is missing", "Issue")
        assert req.login is not None
        n = self._next_number(repo)
        repo.issues[n] = Issue(number=n, id=next(self._ids), title=title,
                               body=body.get("body"), user=req.login,
                               labels=list(dict.fromkeys(self._label_names(
                                   body.get("labels") or []))))
        return 201, self._plain_issue(repo, repo.issues[n])

    def h_get_issue(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo = self._need_repo(req, owner, name)
        if int(n) in repo.issues:
            return 200, self._plain_issue(repo, repo.issues[int(n)])
        repo, p = self._need_pull(req, owner, name, n)
        return 200, self._issue(repo, p)

    def h_update_issue(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo = self._need_repo(req, owner, name)
        plain = repo.issues.get(int(n))
        if plain is not None:
            body = req.body or {}
            for key in ("title", "body"):
                if key in body:
                    setattr(plain, key, body[key])
            if body.get("state") in ("open", "closed"):
                plain.state = body["state"]
                plain.closed_at = _now() if plain.state == "closed" else None
            plain.updated_at = _now()
            return 200, self._plain_issue(repo, plain)
        repo, p = self._need_pull(req, owner, name, n)
        body = req.body or {}
        if "assignees" in body:
            # GitHub drops assignees who cannot be assigned instead of failing
            p.assignees = [u for u in body["assignees"] if u in repo.collaborators]
        if "labels" in body:
            p.labels = [x if isinstance(x, str) else x["name"] for x in body["labels"]]
        for key in ("title", "body"):
            if key in body:
                setattr(p, key, body[key])
        p.updated_at = _now()
        return 200, self._issue(repo, p)

    def h_list_comments(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, _ = self._need_pull(req, owner, name, n)
        items = [self.comment(repo, c) for c in sorted(repo.comments.values(), key=lambda c: c.id)
                 if c.issue == int(n)]
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/issues/{n}/comments",
                          items)

    def h_create_comment(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, _ = self._need_pull(req, owner, name, n)
        text = (req.body or {}).get("body")
        if not isinstance(text, str) or not text:
            return self._422("body is missing", "IssueComment")
        assert req.login is not None
        cid = next(self._ids)
        repo.comments[cid] = IssueComment(cid, int(n), req.login, text)
        return 201, self.comment(repo, repo.comments[cid])

    def h_get_comment(self, req: Request, owner: str, name: str, cid: str) -> Result:
        repo = self._repo(req, owner, name)
        c = repo.comments.get(int(cid)) if repo else None
        if repo is None or c is None:
            return self._error(404, "Not Found")
        return 200, self.comment(repo, c)

    def h_react(self, req: Request, owner: str, name: str, cid: str) -> Result:
        repo = self._repo(req, owner, name)
        c = repo.comments.get(int(cid)) if repo else None
        if repo is None or c is None:
            return self._error(404, "Not Found")
        content = (req.body or {}).get("content")
        if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
            return self._422("content is not included in the list", "Reaction")
        assert req.login is not None
        status = 200
        found = next((r for r in c.reactions if r[1:] == (req.login, content)), None)
        if found is None:
            found = (next(self._ids), req.login, content)
            c.reactions.append(found)
            status = 201
        return status, self.shaper.shape("reaction", {
            "id": found[0], "node_id": f"RE_{found[0]}", "user": self.user(req.login),
            "content": content, "created_at": _now()})

    def h_list_labels(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/issues/{n}/labels",
                           [self.label(repo, x) for x in p.labels])

    @staticmethod
    def _label_names(body: Json) -> list[str]:
        items = body.get("labels", []) if isinstance(body, dict) else (body or [])
        return [x if isinstance(x, str) else x["name"] for x in items]

    def h_add_labels(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        p.labels.extend(x for x in self._label_names(req.body) if x not in p.labels)
        return 200, [self.label(repo, x) for x in p.labels]

    def h_set_labels(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        p.labels = list(dict.fromkeys(self._label_names(req.body)))
        return 200, [self.label(repo, x) for x in p.labels]

    def h_remove_all_labels(self, req: Request, owner: str, name: str, n: str) -> Result:
        _, p = self._need_pull(req, owner, name, n)
        p.labels = []
        return 204, None

    def h_remove_label(self, req: Request, owner: str, name: str, n: str, label: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        if label not in p.labels:
            return self._error(404, "Label does not exist")
        p.labels.remove(label)
        return 200, [self.label(repo, x) for x in p.labels]

    def h_commit(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        sha = repo.resolve(ref) if repo else None
        if repo is None or sha is None:
            return self._error(422 if repo else 404, f"No commit found for SHA: {ref}")
        return 200, self.commit(repo, sha)

    def h_create_status(self, req: Request, owner: str, name: str, sha: str) -> Result:
        repo = self._need_repo(req, owner, name)
        body = req.body or {}
        if body.get("state") not in ("error", "failure", "pending", "success"):
            return self._422("state is not included in the list", "Status")
        if repo.resolve(sha) is None:
            return self._422(f"No commit found for SHA: {sha}", "Status")
        sid = next(self._ids)
        assert req.login is not None
        st = self.shaper.shape("status", {
            "id": sid, "node_id": f"SC_{sid}", "state": body["state"],
            "description": body.get("description"), "target_url": body.get("target_url"),
            "context": body.get("context", "default"), "creator": self.user(req.login),
            "avatar_url": None, "url": f"{self._repo_url(repo)}/statuses/{sha}",
            "created_at": _now(), "updated_at": _now()})
        repo.statuses.append({"sha": sha, **st})
        self._auto_merge(repo)
        return 201, st

    def h_combined_status(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        sha = repo.resolve(ref) if repo else None
        if repo is None or sha is None:
            return self._error(404, "Not Found")
        latest: dict[str, dict[str, Any]] = {}
        for st in repo.statuses:  # the newest status per context wins
            if st["sha"] == sha:
                latest[st["context"]] = {k: v for k, v in st.items()
                                         if k not in ("sha", "creator", "url", "node_id")}
        states = [s["state"] for s in latest.values()]
        state = ("failure" if any(s in ("error", "failure") for s in states)
                 else "pending" if not states or "pending" in states else "success")
        statuses = sorted(latest.values(), key=lambda s: -s["id"])
        return 200, {"state": state, "sha": sha, "total_count": len(latest),
                     "statuses": [self.shaper.shape("simple-commit-status", s) for s in statuses],
                     "repository": self.repository(repo, "minimal-repository"),
                     "commit_url": f"{self._repo_url(repo)}/commits/{sha}",
                     "url": f"{self._repo_url(repo)}/commits/{sha}/status"}

    def h_list_statuses(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._need_repo(req, owner, name)
        sha = repo.resolve(ref)
        if sha is None:
            return self._error(404, "Not Found")
        items = [{k: v for k, v in st.items() if k != "sha"}
                 for st in sorted(repo.statuses, key=lambda st: -st["id"]) if st["sha"] == sha]
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/commits/{ref}/statuses",
                          items)

    def _owned(self, owner: str) -> list[Json]:
        return [self.repository(r, "minimal-repository") for r in self.repos.values()
                if r.owner.lower() == owner.lower()]

    def h_org_repos(self, req: Request, org: str) -> Result:
        if org not in self.orgs:
            return self._error(404, "Not Found")
        return self.paged(req, f"{self.prefix}/orgs/{org}/repos", self._owned(org))

    def h_user_repos(self, req: Request, login: str) -> Result:
        if login not in self.users:
            return self._error(404, "Not Found")
        return self.paged(req, f"{self.prefix}/users/{login}/repos", self._owned(login))

    def h_get_user(self, req: Request, login: str) -> Result:
        if login not in self.users:
            return self._error(404, "Not Found")
        return 200, self.shaper.shape("public-user", {**self.user(login), "name": login})

    def h_list_reviews(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        r = self._repo_url(repo)
        html = f"{self.url}/{repo.full_name}/pull/{p.number}"
        items = [self.shaper.shape("pull-request-review", {
            "id": rid, "node_id": f"PRR_{rid}", "user": self.user(login), "body": "",
            "state": state, "commit_id": sha, "html_url": f"{html}#pullrequestreview-{rid}",
            "pull_request_url": f"{r}/pulls/{p.number}", "author_association": "MEMBER",
            "submitted_at": _now(),
            "_links": {"html": {"href": f"{html}#pullrequestreview-{rid}"},
                       "pull_request": {"href": f"{r}/pulls/{p.number}"}}})
            for rid, login, state, sha in p.reviews]
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/pulls/{n}/reviews", items)

    def h_list_reviewers(self, req: Request, owner: str, name: str, n: str) -> Result:
        _, p = self._need_pull(req, owner, name, n)
        return 200, {"users": [self.user(u) for u in p.reviewers], "teams": []}

    def h_add_assignees(self, req: Request, owner: str, name: str, n: str) -> Result:
        repo, p = self._need_pull(req, owner, name, n)
        p.assignees += [u for u in (req.body or {}).get("assignees", [])
                        if u in repo.collaborators and u not in p.assignees]
        return 201, self._issue(repo, p)

    def h_pulls_of_commit(self, req: Request, owner: str, name: str, sha: str) -> Result:
        repo = self._need_repo(req, owner, name)
        found = [p for p in sorted(repo.pulls.values(), key=lambda p: -p.number)
                 if p.head_sha == sha or (p.state == "open"
                                          and repo.resolve(f"refs/heads/{p.head}") == sha)]
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/commits/{sha}/pulls",
                          [self.pull(repo, p, "pull-request-simple") for p in found])

    def h_update_comment(self, req: Request, owner: str, name: str, cid: str) -> Result:
        repo = self._need_repo(req, owner, name)
        c = repo.comments.get(int(cid))
        if c is None:
            return self._error(404, "Not Found")
        if c.user != req.login:
            return self._error(403, "Must have admin rights to Repository.")
        c.body = (req.body or {}).get("body", c.body)
        return 200, self.comment(repo, c)

    def h_repo_labels(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        return self.paged(req, f"{self.prefix}/repos/{repo.full_name}/labels",
                          [self.label(repo, x) for x in sorted(repo.labels)])

    def h_create_label(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        label = (req.body or {}).get("name", "")
        if not label:
            return self._422("name is missing", "Label")
        if label in repo.labels:
            return self._error(422, "Validation Failed", errors=[
                {"resource": "Label", "code": "already_exists", "field": "name"}])
        return 201, self.label(repo, label)

    def h_get_label(self, req: Request, owner: str, name: str, label: str) -> Result:
        repo = self._need_repo(req, owner, name)
        if label not in repo.labels:
            return self._error(404, "Not Found")
        return 200, self.label(repo, label)

    def h_list_check_runs(self, req: Request, owner: str, name: str, ref: str) -> Result:
        repo = self._repo(req, owner, name)
        sha = repo.resolve(ref) if repo else None
        if repo is None or sha is None:
            return self._error(404, "Not Found")
        runs = [r for r in sorted(repo.check_runs.values(), key=lambda r: -r["id"])
                if r["head_sha"] == sha
                and req.query.get("check_name", r["name"]) == r["name"]]
        path = f"{self.prefix}/repos/{repo.full_name}/commits/{ref}/check-runs"
        status, page, headers = self.paged(req, path, [self.check_run(repo, r) for r in runs])
        return status, {"total_count": len(runs), "check_runs": page}, headers

    def _set_run(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("name", "status", "conclusion", "details_url", "external_id"):
            if key in body:
                run[key] = body[key]
        if "output" in body:
            run["output"] = dict(body["output"])
        if run.get("conclusion"):
            run["status"] = "completed"
        if run["status"] == "completed":
            run["completed_at"] = body.get("completed_at") or _now()

    def h_create_check_run(self, req: Request, owner: str, name: str) -> Result:
        repo = self._need_repo(req, owner, name)
        body = req.body or {}
        if not body.get("name") or not body.get("head_sha"):
            return self._422("name and head_sha are required", "CheckRun")
        if repo.resolve(body["head_sha"]) is None:
            return self._422(f"No commit found for SHA: {body['head_sha']}", "CheckRun")
        if body.get("status", "queued") == "completed" and not body.get("conclusion"):
            return self._422("conclusion is required when status is completed", "CheckRun")
        run: dict[str, Any] = {"id": next(self._ids), "head_sha": body["head_sha"],
                               "status": "queued", "conclusion": None, "output": {},
                               "started_at": body.get("started_at") or _now()}
        self._set_run(run, body)
        repo.check_runs[run["id"]] = run
        self._auto_merge(repo)
        return 201, self.check_run(repo, run)

    def h_update_check_run(self, req: Request, owner: str, name: str, cid: str) -> Result:
        repo = self._repo(req, owner, name)
        run = repo.check_runs.get(int(cid)) if repo else None
        if repo is None or run is None:
            return self._error(404, "Not Found")
        self._set_run(run, req.body or {})
        self._auto_merge(repo)
        return 200, self.check_run(repo, run)

    def h_get_check_run(self, req: Request, owner: str, name: str, cid: str) -> Result:
        repo = self._repo(req, owner, name)
        run = repo.check_runs.get(int(cid)) if repo else None
        if repo is None or run is None:
            return self._error(404, "Not Found")
        return 200, self.check_run(repo, run)

    def h_permission(self, req: Request, owner: str, name: str, user: str) -> Result:
        repo = self._need_repo(req, owner, name)
        role = repo.collaborators.get(user)
        if role is None:
            if user not in self.users:
                return self._error(404, "Not Found")
            # a user who is not a collaborator of a private repository has no access
            return 200, {"permission": "none", "role_name": "none",
                         "user": self._collaborator(user, "none")}
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        if legacy not in ("admin", "write", "read", "none"):
            legacy = "read"  # a custom role reports its base; tests set it explicitly
        return 200, {"permission": legacy, "role_name": role,
                     "user": self._collaborator(user, role)}

    def h_team_membership(self, req: Request, org: str, slug: str, user: str) -> Result:
        """404 without a body for a non-member, an unknown team or user (the spec's 404)."""
        if user not in self.teams.get(f"{org}/{slug}".lower(), ()):
            return 404, None
        return 200, self.shaper.shape("team-membership", {
            "url": f"{self.api}/orgs/{org}/teams/{slug}/memberships/{user}",
            "role": "member", "state": "active"})

    def _collaborator(self, user: str, role: str) -> dict[str, Any]:
        order = ["none", "read", "triage", "write", "maintain", "admin"]
        level = order.index(role) if role in order else 1
        return self.shaper.shape("nullable-collaborator", {
            **self.user(user), "role_name": role,
            "permissions": {"pull": level >= 1, "triage": level >= 2, "push": level >= 3,
                            "maintain": level >= 4, "admin": level >= 5}})

    def pulls_of(self, full_name: str) -> Iterator[Pull]:
        """The pull requests of a repository (for test assertions)."""
        yield from self.repos[full_name].pulls.values()

    # ---------------------------------------------------------------- webhooks ---------------
    def event(self, name: str, full_name: str, number: int, *, action: str,
              comment_id: int | None = None, sender: str | None = None) -> dict[str, Any]:
        """The webhook payload GitHub would send now, built from the fake's state by the same
        builders as the REST responses (GitHub embeds the same objects).

        ``issue_comment`` (needs ``comment_id``; the issue carries ``pull_request``, as for a
        comment on a PR) and ``pull_request`` are supported; the schema to check a payload
        against is ``webhook-<name>-<action>`` in the OpenAPI description (:func:`event_schema`).
        """
        with self.lock:
            repo = self.repos[full_name]
            p = repo.pulls[number]
            who = sender or p.user
            payload: dict[str, Any] = {"action": action, "repository": self.repository(repo),
                                       "sender": self.user(who)}
            if name == "issue_comment":
                assert comment_id is not None, "issue_comment needs comment_id"
                c = repo.comments[comment_id]
                payload.update(issue=self._issue(repo, p), comment={
                    **self.comment(repo, c), "author_association":
                        "MEMBER" if c.user in repo.collaborators else "NONE"})
                payload["sender"] = self.user(c.user)
            elif name == "pull_request":
                payload.update(number=number, pull_request=self.pull(repo, p))
            else:
                raise ValueError(f"fake GitHub: no {name!r} events")
            return self.shaper.shape(event_schema(name, action), payload)


def event_schema(name: str, action: str) -> str:
    """The components/schemas name of a webhook payload: ``webhook-issue-comment-created``."""
    return f"webhook-{name}-{action}".replace("_", "-")


def signed_headers(event: str, body: bytes, secret: str, *, delivery: str | None = None
                   ) -> dict[str, str]:
    """The headers of a GitHub webhook delivery of ``body`` (``X-Hub-Signature-256`` is the
    HMAC-SHA256 of the exact bytes with ``secret``). A redelivery reuses ``delivery``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1", "X-Hub-Signature-256": f"sha256={digest}"}
