"""The GitLab forge (``gitlab`` kind) through python-gitlab: gitlab.com and self-managed.

Pull requests are merge requests and a pull request's ``number`` is the MR's ``iid``. A draft is
a title starting with ``Draft:``; the neutral title never shows that prefix. Access levels map to
:class:`~promoter.forge.Permission` (Developer = WRITE). Commit statuses on GitLab are a state
machine per commit and name: re-posting ``pending`` while pending (or ``running`` while running)
is rejected with 400, so :meth:`GitLabForge.set_status` reads the current state first and moves a
pending status to ``running`` when only its description changes.

Every python-gitlab object stays inside this module (:func:`_convert_mr`); ``GitlabError`` and
transport errors become a one-line :class:`~promoter.errors.ForgeError`. The token is registered
with :func:`promoter.secrets.register` before the first request.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabError

from promoter import forge, secrets
from promoter.errors import ForgeError, ForgeRefused, InputError

DEFAULT_URL = "https://gitlab.com"
_DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s+-|\[wip\]|wip:)\s*", re.I)
_STATES = {"opened": forge.PRState.OPEN, "locked": forge.PRState.OPEN,
           "merged": forge.PRState.MERGED, "closed": forge.PRState.CLOSED}
_READ = {"success": forge.StatusState.SUCCESS, "skipped": forge.StatusState.SUCCESS,
         "failed": forge.StatusState.FAILURE, "canceled": forge.StatusState.FAILURE,
         "pending": forge.StatusState.PENDING, "running": forge.StatusState.PENDING,
         "created": forge.StatusState.PENDING, "manual": forge.StatusState.PENDING}
_WRITE = {forge.StatusState.PENDING: "pending", forge.StatusState.SUCCESS: "success",
          forge.StatusState.FAILURE: "failed", forge.StatusState.ERROR: "failed"}


def _level(access_level: int) -> forge.Permission:
    for floor, permission in ((50, forge.Permission.ADMIN), (40, forge.Permission.MAINTAIN),
                              (30, forge.Permission.WRITE), (20, forge.Permission.TRIAGE),
                              (10, forge.Permission.READ)):
        if access_level >= floor:
            return permission
    return forge.Permission.NONE


def _message(exc: Exception) -> str:
    if isinstance(exc, GitlabError):
        raw: Any = exc.error_message
        if isinstance(raw, list):
            raw = "; ".join(map(str, raw))
        elif isinstance(raw, dict):
            raw = "; ".join(f"{k}: {v}" for k, v in raw.items())
        text = str(raw)
        code = str(exc.response_code or "")
        return " ".join((text if text.startswith(code) else f"{code} {text}").split())
    return " ".join(f"{type(exc).__name__}: {exc}".split())


@contextlib.contextmanager
def _errors(repo: str, operation: str) -> Iterator[None]:
    """SDK and transport failures become ForgeError("gitlab: grp/proj: operation: 409 ...")."""
    try:
        yield
    except (GitlabError, requests.RequestException) as exc:
        refused = isinstance(exc, GitlabError) and exc.response_code in (401, 403, 404)
        kind = ForgeRefused if refused else ForgeError  # GitLab limits rates with 429
        raise kind(secrets.redact(f"gitlab: {repo}: {operation}: {_message(exc)}")[:500]
                   ) from exc


def _time(text: object) -> datetime | None:
    """An ISO 8601 time from the API (``...Z`` or with an offset); None when absent."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _convert_mr(mr: Any) -> forge.PullRequest:
    """python-gitlab ProjectMergeRequest -> neutral PullRequest."""
    title = mr.title
    draft = bool(getattr(mr, "draft", False) or _DRAFT.match(title))
    return forge.PullRequest(
        number=mr.iid, url=mr.web_url, state=_STATES.get(mr.state, forge.PRState.CLOSED),
        title=_DRAFT.sub("", title, count=1), body=mr.description or "",
        head=mr.source_branch, base=mr.target_branch, head_sha=mr.sha or "",
        labels=tuple(sorted(mr.labels)), author=(mr.author or {}).get("username", ""),
        draft=draft, auto_merge=bool(getattr(mr, "merge_when_pipeline_succeeds", False)),
        same_repo=getattr(mr, "source_project_id", None) == getattr(mr, "target_project_id",
                                                                     None),
        created_at=_time(getattr(mr, "created_at", None)))


def _convert_issue(issue: Any) -> forge.Issue:
    return forge.Issue(number=issue.iid, url=issue.web_url, title=issue.title,
                       body=issue.description or "", is_open=issue.state == "opened",
                       labels=tuple(sorted(issue.labels)),
                       author=(issue.author or {}).get("username", ""))


def _convert_note(number: int, note: Any) -> forge.Comment:
    return forge.Comment(id=note.id, number=number, author=(note.author or {}).get("username", ""),
                         body=note.body or "", system=bool(getattr(note, "system", False)))


class GitLabForge:
    kind = "gitlab"

    def __init__(self, client: gitlab.Gitlab, repo: str) -> None:
        self._gl = client
        self.repo = repo
        with _errors(repo, "who am I"):
            client.auth()
            assert client.user is not None
            self._login = str(client.user.username)
        with _errors(repo, "get project"):
            self._project = client.projects.get(repo)

    def _mr(self, number: int, *, lazy: bool = False) -> Any:
        return self._project.mergerequests.get(number, lazy=lazy)

    def _user_ids(self, users: tuple[str, ...]) -> list[int]:
        ids = []
        for name in users:
            found = self._gl.users.list(username=name)
            if not found:
                raise ForgeError(f"gitlab: {self.repo}: no user {name!r}")
            ids.append(found[0].id)
        return ids

    # -- PullRequests --------------------------------------------------------------------------
    def find(self, *, head: str, base: str) -> forge.PullRequest | None:
        with _errors(self.repo, f"find merge request {head} -> {base}"):
            # open first (at most one), else the newest closed or merged one
            for state in ("opened", None):
                kwargs: dict[str, Any] = {"state": state} if state else {}
                mrs = self._project.mergerequests.list(
                    source_branch=head, target_branch=base, order_by="created_at", sort="desc",
                    iterator=True, **kwargs)
                for m in mrs:
                    if m.source_project_id == self._project.id and m.source_branch == head \
                            and m.target_branch == base:
                        return _convert_mr(m)
        return None

    def get(self, number: int) -> forge.PullRequest:
        with _errors(self.repo, f"get merge request !{number}"):
            return _convert_mr(self._mr(number))

    def list_open(self, *, base: str | None = None) -> tuple[forge.PullRequest, ...]:
        with _errors(self.repo, "list merge requests"):
            kwargs: dict[str, Any] = {"target_branch": base} if base else {}
            mrs = self._project.mergerequests.list(state="opened", order_by="created_at",
                                                   sort="desc", get_all=True, **kwargs)
            return tuple(_convert_mr(m) for m in mrs)

    def created_since(self, since: datetime) -> tuple[forge.PullRequest, ...]:
        with _errors(self.repo, "list recent merge requests"):
            mrs = self._project.mergerequests.list(
                created_after=since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                order_by="created_at", sort="desc", get_all=True)
            return tuple(pr for pr in map(_convert_mr, mrs)
                         if pr.created_at is not None and pr.created_at >= since)

    def create(self, *, head: str, base: str, title: str, body: str,
               draft: bool = False) -> forge.PullRequest:
        def create() -> forge.PullRequest:
            with _errors(self.repo, f"create merge request {head} -> {base}"):
                mr = self._project.mergerequests.create({
                    "source_branch": head, "target_branch": base,
                    "title": f"Draft: {title}" if draft else title, "description": body})
                return _convert_mr(mr)

        return forge.create_or_adopt(self, create, head=head, base=base)

    def update(self, number: int, *, title: str | None = None, body: str | None = None,
               labels: tuple[str, ...] | None = None) -> forge.PullRequest:
        with _errors(self.repo, f"update merge request !{number}"):
            mr = self._mr(number)
            current = _convert_mr(mr)
            changed = False
            if title is not None and title != current.title:
                mr.title = f"Draft: {title}" if current.draft else title
                changed = True
            if body is not None and body != current.body:
                mr.description = body
                changed = True
            if labels is not None and set(labels) != set(current.labels):
                mr.labels = sorted(set(labels))
                changed = True
            if not changed:
                return current
            mr.save()
            return _convert_mr(mr)

    def close(self, number: int, *, comment: str | None = None) -> forge.PullRequest:
        if comment is not None:
            self.comment(number, comment)
        with _errors(self.repo, f"close merge request !{number}"):
            mr = self._mr(number)
            if mr.state in ("opened", "locked"):
                mr.state_event = "close"
                mr.save()
            return _convert_mr(mr)

    def comment(self, number: int, body: str) -> forge.Comment:
        with _errors(self.repo, f"comment on !{number}"):
            return _convert_note(number, self._mr(number, lazy=True).notes.create({"body": body}))

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        if labels:
            with _errors(self.repo, f"add labels to !{number}"):
                self._project.mergerequests.update(number, {"add_labels": ",".join(labels)})

    def request_reviewers(self, number: int, users: tuple[str, ...]) -> None:
        if not users:
            return
        with _errors(self.repo, f"request reviewers on !{number}"):
            mr = self._mr(number)
            have = [r["id"] for r in getattr(mr, "reviewers", None) or ()]
            want = have + [i for i in self._user_ids(users) if i not in have]
            if want != have:
                self._project.mergerequests.update(number, {"reviewer_ids": want})

    def approvals(self, number: int) -> tuple[str, ...]:
        with _errors(self.repo, f"approvals of !{number}"):
            data = self._gl.http_get(
                f"/projects/{self._project.id}/merge_requests/{number}/approvals")
        approved = data.get("approved_by", []) if isinstance(data, dict) else []
        return tuple(sorted(a["user"]["username"] for a in approved))

    def set_assignees(self, number: int, users: tuple[str, ...]) -> None:
        with _errors(self.repo, f"set assignees on !{number}"):
            self._project.mergerequests.update(number, {"assignee_ids": self._user_ids(users)})

    def enable_auto_merge(self, number: int, *,
                          method: forge.MergeMethod = forge.MergeMethod.MERGE) -> None:
        with _errors(self.repo, f"enable auto-merge on !{number}"):
            mr = self._mr(number)
            if getattr(mr, "merge_when_pipeline_succeeds", False):
                return
            # auto_merge (GitLab 17.11+) and its deprecated name, in the body; older servers
            # ignore the name they do not know. GitLab merges once its own checks pass (at once
            # when they already do): required pipelines and approvals still apply.
            self._gl.http_put(
                f"/projects/{self._project.id}/merge_requests/{number}/merge",
                post_data={"auto_merge": True, "merge_when_pipeline_succeeds": True,
                           "squash": method is forge.MergeMethod.SQUASH, "sha": mr.sha})

    # -- Statuses ------------------------------------------------------------------------------
    def _raw_statuses(self, sha: str) -> dict[str, Any]:
        latest: dict[str, Any] = {}
        commit = self._project.commits.get(sha, lazy=True)
        for s in sorted(commit.statuses.list(get_all=True), key=lambda s: s.id):
            latest[s.name] = s
        return latest

    def set_status(self, sha: str, status: forge.CommitStatus) -> None:
        with _errors(self.repo, f"set status {status.context} on {sha[:12]}"):
            current = self._raw_statuses(sha).get(status.context)
            state = _WRITE[status.state]
            if current is not None:
                same = (current.description or "") == status.description and \
                    current.target_url == status.target_url
                if current.status == state and same:
                    return
                if state == "pending" and current.status in ("pending", "running"):
                    if current.status == "running":
                        return  # running -> running is refused; the description waits
                    state = "running"
            data: dict[str, Any] = {"state": state, "name": status.context,
                                    "description": status.description[:255]}
            if status.target_url:
                data["target_url"] = status.target_url
            self._project.commits.get(sha, lazy=True).statuses.create(data)

    def statuses(self, sha: str) -> tuple[forge.CommitStatus, ...]:
        with _errors(self.repo, f"read statuses of {sha[:12]}"):
            latest = self._raw_statuses(sha)
        return tuple(forge.CommitStatus(context=name,
                                        state=_READ.get(s.status, forge.StatusState.FAILURE),
                                        description=s.description or "", target_url=s.target_url,
                                        updated_at=_time(getattr(s, "finished_at", None)
                                                         or getattr(s, "created_at", None)))
                     for name, s in sorted(latest.items()))

    # -- Comments ------------------------------------------------------------------------------
    def me(self) -> str:
        return self._login

    def get_comment(self, number: int, comment_id: int) -> forge.Comment:
        with _errors(self.repo, f"get note {comment_id} on !{number}"):
            return _convert_note(number, self._mr(number, lazy=True).notes.get(comment_id))

    def comments(self, number: int) -> tuple[forge.Comment, ...]:
        with _errors(self.repo, f"list notes on !{number}"):
            notes = self._mr(number, lazy=True).notes.list(get_all=True, sort="asc",
                                                           order_by="created_at")
            return tuple(_convert_note(number, n) for n in sorted(notes, key=lambda n: n.id))

    def react(self, number: int, comment_id: int, reaction: forge.Reaction) -> None:
        with _errors(self.repo, f"react to note {comment_id}"):
            note = self._mr(number, lazy=True).notes.get(comment_id, lazy=True)
            try:
                note.awardemojis.create({"name": forge.GITLAB_EMOJI[reaction]})
            except GitlabError as exc:
                if "already been taken" not in str(exc.error_message):
                    raise

    def _member(self, members: Any, user: str) -> Any:
        """``user`` in a ``members_all`` manager (direct or inherited), or None."""
        found = self._gl.users.list(username=user)
        if not found:
            return None
        try:
            return members.get(found[0].id)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code == 404:
                return None
            raise

    def permission(self, user: str) -> forge.Permission:
        with _errors(self.repo, f"permission of {user}"):
            member = self._member(self._project.members_all, user)
            return forge.Permission.NONE if member is None else _level(int(member.access_level))

    def member_of(self, user: str, team_or_group: str) -> bool:
        with _errors(self.repo, f"membership of {user} in group {team_or_group}"):
            group = self._gl.groups.get(team_or_group, lazy=True)
            member = self._member(group.members_all, user)
        return member is not None and \
            getattr(member, "membership_state", "active") == "active"

    # -- Issues --------------------------------------------------------------------------------
    def find_issue(self, *, label: str) -> forge.Issue | None:
        with _errors(self.repo, f"find issue labelled {label}"):
            found = self._project.issues.list(state="opened", labels=[label],
                                              order_by="created_at", sort="asc", get_all=True)
            return _convert_issue(min(found, key=lambda i: i.iid)) if found else None

    def get_issue(self, number: int) -> forge.Issue:
        with _errors(self.repo, f"get issue #{number}"):
            return _convert_issue(self._project.issues.get(number))

    def create_issue(self, *, title: str, body: str, labels: tuple[str, ...] = ()
                     ) -> forge.Issue:
        with _errors(self.repo, "create issue"):
            return _convert_issue(self._project.issues.create(
                {"title": title, "description": body, "labels": ",".join(labels)}))

    def update_issue(self, number: int, *, title: str | None = None,
                     body: str | None = None) -> forge.Issue:
        with _errors(self.repo, f"update issue #{number}"):
            issue = self._project.issues.get(number)
            changes = {k: v for k, v, old in (("title", title, issue.title),
                                              ("description", body, issue.description or ""))
                       if v is not None and v != old}
            if changes:
                self._project.issues.update(number, changes)
                return _convert_issue(self._project.issues.get(number))
            return _convert_issue(issue)


def open_gitlab(options: forge.ForgeOptions) -> forge.Forge:
    """A GitLab forge for project ``options.repo`` (``group/.../project``), token checked once."""
    if not options.token:
        raise InputError("gitlab: set a token (a project, group or personal access token)")
    return GitLabForge(_client(options), options.repo)


def _client(options: forge.ForgeOptions) -> gitlab.Gitlab:
    secrets.register(options.token)
    return gitlab.Gitlab(url=(options.url or DEFAULT_URL).rstrip("/"),
                         private_token=options.token, timeout=options.timeout,
                         retry_transient_errors=options.retries > 0, keep_base_url=True)


def list_repositories(options: forge.ForgeOptions, owner: str, *,
                      topic: str | None = None) -> tuple[forge.Listed, ...]:
    """The projects of the group ``owner`` and its subgroups (``topic``: only those with it,
    asked of GitLab), for fleet discovery. ForgeError when GitLab cannot be asked."""
    if not options.token:
        raise InputError("gitlab discovery: set a token (token-env)")
    client = _client(options)
    query: dict[str, Any] = {"include_subgroups": True, "archived": False}
    if topic is not None:
        query["topic"] = topic
    with _errors(owner, "list projects"):
        try:
            projects = list(client.groups.get(owner, lazy=True).projects.list(iterator=True,
                                                                              **query))
        except GitlabError as exc:
            if getattr(exc, "response_code", None) == 404:
                raise InputError(f"gitlab: no group {owner!r}") from None
            raise
        return tuple(forge.Listed(full_name=p.path_with_namespace,
                                  clone_url=p.http_url_to_repo,
                                  topics=tuple(getattr(p, "topics", None)
                                               or getattr(p, "tag_list", None) or ()),
                                  archived=bool(getattr(p, "archived", False)))
                     for p in projects)
