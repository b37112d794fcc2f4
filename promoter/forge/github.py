"""The GitHub forge (``github`` kind) through PyGithub: github.com and GitHub Enterprise.

Credentials: a token (PAT, ``GITHUB_TOKEN``, an installation token), or a GitHub App (app id and
PEM private key) which is exchanged here for an installation token of the repository's
installation (PyGithub's ``Auth.AppAuth`` -> ``AppInstallationAuth``). Every secret is
registered with :func:`promoter.secrets.register` before the first request.

Every PyGithub object stays inside this module: :func:`_convert_pr` turns a PyGithub pull
request into the neutral :class:`~promoter.forge.PullRequest`, and :func:`_errors` turns
``GithubException`` and transport errors into a one-line :class:`~promoter.errors.ForgeError`.
Auto-merge is GraphQL-only on GitHub (``enablePullRequestAutoMerge``); PyGithub sends it to
``<base>/graphql`` (``/api/graphql`` on Enterprise).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import github
import requests
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubObject import NotSet
from github.GithubRetry import GithubRetry

from promoter import forge, secrets
from promoter.errors import ForgeError, ForgeRefused, InputError

DEFAULT_URL = "https://api.github.com"
GITHUB_ACTIONS_BOT = "github-actions[bot]"
_PERMISSIONS = {p.name.lower(): p for p in forge.Permission}  # GitHub's role names, one to one
# check run conclusion -> status state (neutral and skipped do not block)
_CONCLUSIONS = {"success": forge.StatusState.SUCCESS, "neutral": forge.StatusState.SUCCESS,
                "skipped": forge.StatusState.SUCCESS, "cancelled": forge.StatusState.ERROR}


def _message(exc: Exception) -> str:
    if isinstance(exc, GithubException):
        data = exc.data if isinstance(exc.data, dict) else {}
        text = str(data.get("message") or exc.message or "")
        details = [str(e.get("message") or f"{e.get('field')} {e.get('code')}")
                   for e in data.get("errors") or () if isinstance(e, dict)]
        words = ": ".join(x for x in (text, "; ".join(details)) if x)
        return " ".join(f"{exc.status} {words}".split())
    return " ".join(f"{type(exc).__name__}: {exc}".split())


@contextlib.contextmanager
def _errors(repo: str, operation: str) -> Iterator[None]:
    """SDK and transport failures become ForgeError("github: o/r: operation: 422 ...")."""
    try:
        yield
    except (GithubException, requests.RequestException, AssertionError) as exc:
        kind = ForgeRefused if _refused(exc) else ForgeError
        raise kind(secrets.redact(f"github: {repo}: {operation}: {_message(exc)}")[:500]
                   ) from exc


def _refused(exc: Exception) -> bool:
    """Whether GitHub said no for good (401, 404, a 403 that is no rate limit) rather than
    failing to answer: running again would not help."""
    if not isinstance(exc, GithubException):
        return False
    if exc.status in (401, 404):
        return True
    if exc.status != 403:
        return False
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    limited = headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or \
        "rate limit" in _message(exc).lower()
    return not limited


def _convert_pr(pr: Any) -> forge.PullRequest:
    """PyGithub PullRequest (full or from a list) -> neutral PullRequest."""
    if pr.merged_at is not None:
        state = forge.PRState.MERGED
    else:
        state = forge.PRState.OPEN if pr.state == "open" else forge.PRState.CLOSED
    return forge.PullRequest(
        number=pr.number, url=pr.html_url, state=state, title=pr.title, body=pr.body or "",
        head=pr.head.ref, base=pr.base.ref, head_sha=pr.head.sha,
        labels=tuple(sorted(label.name for label in pr.labels)),
        author=pr.user.login if pr.user else "", draft=bool(pr.draft),
        auto_merge=pr.auto_merge is not None,
        same_repo=pr.head.repo is not None and pr.head.repo.full_name == pr.base.repo.full_name,
        created_at=_utc(pr.created_at))


def _convert_issue(issue: Any) -> forge.Issue:
    return forge.Issue(number=issue.number, url=issue.html_url, title=issue.title,
                       body=issue.body or "", is_open=issue.state == "open",
                       labels=tuple(sorted(label.name for label in issue.labels)),
                       author=issue.user.login if issue.user else "")


def _utc(when: datetime | None) -> datetime | None:
    """PyGithub's times, naive in old versions, as aware UTC ones."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _status_state(state: str) -> forge.StatusState:
    return forge.StatusState(state) if state in forge.StatusState._value2member_map_ else \
        forge.StatusState.FAILURE


class GitHubForge:
    kind = "github"

    def __init__(self, client: Github, repo: str, *, login: str) -> None:
        self._gh = client
        self.repo = repo
        self._login = login
        self._owner = repo.split("/", 1)[0]
        with _errors(repo, "get repository"):
            self._repo = client.get_repo(repo)
            self._repo_id = self._repo.id  # one GET: the repository exists and we may see it

    # -- PullRequests --------------------------------------------------------------------------
    def find(self, *, head: str, base: str) -> forge.PullRequest | None:
        with _errors(self.repo, f"find pull request {head} -> {base}"):
            # open first (at most one), else the newest closed one: one page in the usual case.
            # "owner:branch": without the owner GitHub ignores the filter and lists every PR.
            for state in ("open", "closed"):
                pulls = self._repo.get_pulls(state=state, head=f"{self._owner}:{head}",
                                             base=base, sort="created", direction="desc")
                for p in pulls:
                    if p.head.ref == head and p.base.ref == base and p.head.repo is not None \
                            and p.head.repo.full_name == self._repo.full_name:
                        return _convert_pr(p)
        return None

    def get(self, number: int) -> forge.PullRequest:
        with _errors(self.repo, f"get pull request #{number}"):
            return _convert_pr(self._repo.get_pull(number))

    def list_open(self, *, base: str | None = None) -> tuple[forge.PullRequest, ...]:
        with _errors(self.repo, "list pull requests"):
            kwargs: dict[str, Any] = {"base": base} if base else {}
            pulls = self._repo.get_pulls(state="open", sort="created", direction="desc",
                                         **kwargs)
            return tuple(_convert_pr(p) for p in pulls)

    def created_since(self, since: datetime) -> tuple[forge.PullRequest, ...]:
        with _errors(self.repo, "list recent pull requests"):
            out = []
            for p in self._repo.get_pulls(state="all", sort="created", direction="desc"):
                pr = _convert_pr(p)
                if pr.created_at is None or pr.created_at < since:
                    break  # newest first: the rest are older
                out.append(pr)
            return tuple(out)

    def create(self, *, head: str, base: str, title: str, body: str,
               draft: bool = False) -> forge.PullRequest:
        def create() -> forge.PullRequest:
            with _errors(self.repo, f"create pull request {head} -> {base}"):
                return _convert_pr(self._repo.create_pull(base=base, head=head, title=title,
                                                          body=body, draft=draft))

        return forge.create_or_adopt(self, create, head=head, base=base)

    def update(self, number: int, *, title: str | None = None, body: str | None = None,
               labels: tuple[str, ...] | None = None) -> forge.PullRequest:
        with _errors(self.repo, f"update pull request #{number}"):
            pr = self._repo.get_pull(number)
            current = _convert_pr(pr)
            new_title = title if title is not None and title != current.title else NotSet
            new_body = body if body is not None and body != current.body else NotSet
            new_labels = tuple(sorted(set(labels))) if labels is not None else current.labels
            if new_title is NotSet and new_body is NotSet and new_labels == current.labels:
                return current
            if new_title is not NotSet or new_body is not NotSet:
                pr.edit(title=new_title, body=new_body)
            if new_labels != current.labels:
                if new_labels:
                    pr.set_labels(*new_labels)
                else:  # set-labels wants at least one label
                    pr.as_issue().delete_labels()
            return _convert_pr(self._repo.get_pull(number))

    def close(self, number: int, *, comment: str | None = None) -> forge.PullRequest:
        if comment is not None:
            self.comment(number, comment)
        with _errors(self.repo, f"close pull request #{number}"):
            pr = self._repo.get_pull(number)
            if pr.state == "open":
                pr.edit(state="closed")
            return _convert_pr(pr)

    def comment(self, number: int, body: str) -> forge.Comment:
        with _errors(self.repo, f"comment on #{number}"):
            c = self._repo.get_issue(number).create_comment(body)
            return forge.Comment(id=c.id, number=number, author=c.user.login, body=c.body)

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        if labels:
            with _errors(self.repo, f"add labels to #{number}"):
                self._repo.get_issue(number).add_to_labels(*labels)

    def request_reviewers(self, number: int, users: tuple[str, ...]) -> None:
        if users:
            with _errors(self.repo, f"request reviewers on #{number}"):
                self._repo.get_pull(number).create_review_request(reviewers=list(users))

    def approvals(self, number: int) -> tuple[str, ...]:
        with _errors(self.repo, f"list reviews of #{number}"):
            latest: dict[str, str] = {}
            for review in self._repo.get_pull(number).get_reviews():  # oldest first
                if review.user is not None and review.state in ("APPROVED",
                                                                "CHANGES_REQUESTED",
                                                                "DISMISSED"):
                    latest[review.user.login] = review.state
        return tuple(sorted(u for u, state in latest.items() if state == "APPROVED"))

    def set_assignees(self, number: int, users: tuple[str, ...]) -> None:
        with _errors(self.repo, f"set assignees on #{number}"):
            self._repo.get_issue(number).edit(assignees=list(users))

    def enable_auto_merge(self, number: int, *,
                          method: forge.MergeMethod = forge.MergeMethod.MERGE) -> None:
        with _errors(self.repo, f"enable auto-merge on #{number}"):
            pr = self._repo.get_pull(number)
            if pr.auto_merge is None:
                pr.enable_automerge(merge_method=method.value.upper())

    # -- Statuses ------------------------------------------------------------------------------
    def set_status(self, sha: str, status: forge.CommitStatus) -> None:
        with _errors(self.repo, f"set status {status.context} on {sha[:12]}"):
            commit = self._repo.get_commit(sha)
            current = next((s for s in commit.get_combined_status().statuses
                            if s.context == status.context), None)
            if current is None or (current.state, current.description or "",
                                   current.target_url) != (status.state.value,
                                                           status.description,
                                                           status.target_url):
                kwargs: dict[str, Any] = {"context": status.context,
                                          "description": status.description[:140]}
                if status.target_url:
                    kwargs["target_url"] = status.target_url
                commit.create_status(status.state.value, **kwargs)
            if status.summary is not None:
                self._check_run(sha, status)

    def _check_run(self, sha: str, status: forge.CommitStatus) -> None:
        output = {"title": status.description or status.context,
                  "summary": (status.summary or "")[:65535]}
        done = status.state is not forge.StatusState.PENDING
        kwargs: dict[str, Any] = {"status": "completed" if done else "in_progress",
                                  "output": output}
        if done:
            kwargs["conclusion"] = ("success" if status.state is forge.StatusState.SUCCESS
                                    else "failure")
        if status.target_url:
            kwargs["details_url"] = status.target_url
        runs = list(self._repo.get_commit(sha).get_check_runs(check_name=status.context))
        if runs:
            runs[0].edit(**kwargs)
        else:
            self._repo.create_check_run(name=status.context, head_sha=sha, **kwargs)

    def statuses(self, sha: str) -> tuple[forge.CommitStatus, ...]:
        with _errors(self.repo, f"read statuses of {sha[:12]}"):
            commit = self._repo.get_commit(sha)
            latest: dict[str, forge.CommitStatus] = {}
            for run in commit.get_check_runs():
                if run.name in latest:
                    continue  # newest first
                state = (_CONCLUSIONS.get(run.conclusion or "", forge.StatusState.FAILURE)
                         if run.status == "completed" else forge.StatusState.PENDING)
                latest[run.name] = forge.CommitStatus(context=run.name, state=state,
                                                      description=run.output.title or "",
                                                      target_url=run.details_url,
                                                      updated_at=_utc(run.completed_at))
            for s in commit.get_combined_status().statuses:
                latest[s.context] = forge.CommitStatus(context=s.context,
                                                       state=_status_state(s.state),
                                                       description=s.description or "",
                                                       target_url=s.target_url,
                                                       updated_at=_utc(s.updated_at))
        return tuple(latest[k] for k in sorted(latest))

    # -- Comments ------------------------------------------------------------------------------
    def me(self) -> str:
        return self._login

    def get_comment(self, number: int, comment_id: int) -> forge.Comment:
        with _errors(self.repo, f"get comment {comment_id} on #{number}"):
            c = self._repo.get_issue(number).get_comment(comment_id)
            if not c.issue_url.endswith(f"/issues/{number}"):
                raise ForgeError(f"github: {self.repo}: comment {comment_id} is not on "
                                 f"#{number}")
            return forge.Comment(id=c.id, number=number, author=c.user.login, body=c.body or "")

    def comments(self, number: int) -> tuple[forge.Comment, ...]:
        with _errors(self.repo, f"list comments on #{number}"):
            return tuple(forge.Comment(id=c.id, number=number, author=c.user.login,
                                       body=c.body or "")
                         for c in self._repo.get_issue(number).get_comments())

    def react(self, number: int, comment_id: int, reaction: forge.Reaction) -> None:
        with _errors(self.repo, f"react to comment {comment_id}"):
            self._repo.get_issue(number).get_comment(comment_id).create_reaction(reaction.value)

    def permission(self, user: str) -> forge.Permission:
        with _errors(self.repo, f"permission of {user}"):
            try:
                role = self._repo.get_collaborator_role_name(user)
            except github.UnknownObjectException:
                return forge.Permission.NONE
            if role in _PERMISSIONS:
                return _PERMISSIONS[role]
            # a custom role: its base shows in the legacy permission
            return _PERMISSIONS.get(self._repo.get_collaborator_permission(user),
                                    forge.Permission.READ)

    def member_of(self, user: str, team_or_group: str) -> bool:
        org, _, slug = team_or_group.partition("/")
        if not org or not slug or "/" in slug:
            return False
        path = "/orgs/{}/teams/{}/memberships/{}".format(*(quote(x, safe="")
                                                           for x in (org, slug, user)))
        with _errors(self.repo, f"membership of {user} in team {team_or_group}"):
            try:
                _, data = self._gh.requester.requestJsonAndCheck("GET", path)
            except GithubException as exc:
                if exc.status == 404:  # not a member, or no such team or user
                    return False
                raise
        return isinstance(data, dict) and data.get("state") == "active"

    # -- Issues --------------------------------------------------------------------------------
    def find_issue(self, *, label: str) -> forge.Issue | None:
        with _errors(self.repo, f"find issue labelled {label}"):
            found = [i for i in self._repo.get_issues(state="open", labels=[label],
                                                      sort="created", direction="asc")
                     if i.pull_request is None]
            return _convert_issue(found[0]) if found else None

    def get_issue(self, number: int) -> forge.Issue:
        with _errors(self.repo, f"get issue #{number}"):
            issue = self._repo.get_issue(number)
            if issue.pull_request is not None:
                raise ForgeError(f"github: {self.repo}: #{number} is a pull request")
            return _convert_issue(issue)

    def create_issue(self, *, title: str, body: str, labels: tuple[str, ...] = ()
                     ) -> forge.Issue:
        with _errors(self.repo, "create issue"):
            return _convert_issue(self._repo.create_issue(title=title, body=body,
                                                          labels=list(labels)))

    def update_issue(self, number: int, *, title: str | None = None,
                     body: str | None = None) -> forge.Issue:
        with _errors(self.repo, f"update issue #{number}"):
            issue = self._repo.get_issue(number)
            new_title = title if title is not None and title != issue.title else NotSet
            new_body = body if body is not None and body != (issue.body or "") else NotSet
            if new_title is not NotSet or new_body is not NotSet:
                issue.edit(title=new_title, body=new_body)
            return _convert_issue(issue)


class _RegisteredInstallationAuth(Auth.AppInstallationAuth):
    """An installation token that is registered as a secret each time PyGithub refreshes it
    (installation tokens expire after an hour)."""

    @property
    def token(self) -> str:
        value = super().token
        secrets.register(value)
        return value


def _client_kwargs(options: forge.ForgeOptions) -> dict[str, Any]:
    retry: GithubRetry | int = GithubRetry(total=options.retries) if options.retries else 0
    # 100 a page (GitHub's most; PyGithub asks 30): listing 200 open pull requests takes 2
    kwargs: dict[str, Any] = {"base_url": (options.url or DEFAULT_URL).rstrip("/"),
                              "timeout": int(options.timeout), "retry": retry, "per_page": 100}
    if not options.throttle:
        kwargs.update(seconds_between_requests=None, seconds_between_writes=None)
    return kwargs


def open_github(options: forge.ForgeOptions) -> forge.Forge:
    """A GitHub forge for ``options.repo`` (``owner/name``), credentials checked once."""
    if "/" not in options.repo:
        raise InputError(f"github: repository {options.repo!r} is not owner/name")
    kwargs = _client_kwargs(options)
    secrets.register(options.token)
    secrets.register(options.private_key)
    if options.token:
        client = Github(auth=Auth.Token(options.token), lazy=True, **kwargs)
        with _errors(options.repo, "who am I"):
            try:
                login = client.get_user().login
            except GithubException as exc:
                if exc.status != 403:
                    raise
                # installation tokens may not read /user; Actions' GITHUB_TOKEN is the usual one
                login = GITHUB_ACTIONS_BOT
        return GitHubForge(client, options.repo, login=login)
    if options.app_id is None or not options.private_key:
        raise InputError("github: set a token, or an app id and a private key")
    app_auth = Auth.AppAuth(options.app_id, options.private_key)
    with _errors(options.repo, "GitHub App installation token"):
        integration = GithubIntegration(auth=app_auth, **kwargs)
        installation_id = options.installation_id
        if installation_id is None:
            owner, name = options.repo.split("/", 1)
            installation_id = integration.get_repo_installation(owner, name).id
        slug = integration.get_app().slug
        auth = _RegisteredInstallationAuth(app_auth, installation_id)
        client = Github(auth=auth, lazy=True, **kwargs)
        auth.token  # noqa: B018 - fetch (and register) the first token now, not mid-run
    return GitHubForge(client, options.repo, login=f"{slug}[bot]")


def list_repositories(options: forge.ForgeOptions, owner: str) -> tuple[forge.Listed, ...]:
    """The repositories of the organisation (or, when it is none, the user) ``owner``, for
    fleet discovery; ``options.repo`` is unused. ForgeError when GitHub cannot be asked."""
    if not options.token:
        raise InputError("github discovery: set a token (token-env)")
    secrets.register(options.token)
    client = Github(auth=Auth.Token(options.token), lazy=True, **_client_kwargs(options))
    with _errors(owner, "list repositories"):
        try:  # one GET /users/{owner} says whether it is an organisation
            user = client.get_user(owner)
            kind = user.type
        except GithubException as exc:
            if exc.status == 404:  # no such owner: the fleet file is wrong, not GitHub
                raise InputError(f"github: no organisation or user {owner!r}") from None
            raise
        if kind == "Organization":
            repos = list(client.get_organization(owner).get_repos(type="all"))
        else:
            repos = list(user.get_repos(type="owner"))
        return tuple(forge.Listed(full_name=r.full_name, clone_url=r.clone_url,
                                  topics=tuple(r.raw_data.get("topics") or ()),
                                  archived=bool(r.archived)) for r in repos)
