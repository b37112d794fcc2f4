"""Webhook payloads into values, pure: the one walker over untrusted JSON that ``serve`` and the
comment entry points share.

Every field of a delivery may be missing or of any type, and a payload may be nested as deep as
the JSON parser allows: :func:`at` walks a dotted path without recursion and answers None for a
step that is not there; :func:`need` is the same walk for a field that must exist with a type, and
raises :class:`~promoter.errors.InputError` naming the field. :func:`parse_json` turns a body
(JSON or GitHub's form encoding) into a document or a :class:`Reject` (400), also for a document
nested too deep to parse.

What a delivery asks for is a :class:`Job`: a comment command (:class:`CommentEvent`), an
edit of the dashboard issue (:class:`IssueEdit`: its ticked boxes), a promotion after a branch
moved, or a poll of images a registry says were pushed.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from promoter.errors import InputError


class Reject(Exception):
    """A delivery answered with ``status`` and a one-line ``message``; nothing runs."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentEvent:
    """A comment as the entry points read it from a webhook or an Actions event file."""

    number: int  # the pull request (GitLab: the MR iid)
    comment_id: int
    author: str
    body: str
    author_is_bot: bool = False  # GitHub user type "Bot"; GitLab bot users
    on_pull_request: bool = True  # False: a comment on an issue (GitHub) or a commit/snippet
    edited: bool = False  # an edit or deletion: never run again
    system: bool = False  # GitLab system notes


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueEdit:
    """An edit of an issue's body (the dashboard's checkboxes): who edited it, before and
    after."""

    number: int  # GitHub issue number, GitLab issue iid
    editor: str
    before: str
    after: str
    editor_is_bot: bool = False


class JobKind(enum.Enum):
    COMMENT = "comment"
    PROMOTE = "promote"  # a branch moved (push, merged PR/MR): promote from it
    POLL = "poll"  # a registry has a new tag: poll just that image
    DASHBOARD = "dashboard"  # the dashboard issue was edited: act on ticked boxes


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    kind: JobKind
    delivery: str  # the delivery id (de-duplicated per source)
    source: str  # github, gitlab, registry
    repo: str = ""  # forge repository / project path ("" for registry events)
    comment: CommentEvent | None = None
    edit: IssueEdit | None = None  # DASHBOARD
    branch: str | None = None  # PROMOTE: the branch that moved
    images: tuple[tuple[str, str], ...] = ()  # POLL: (registry/repository, tag)


# --- the walker -------------------------------------------------------------------------------

def at(doc: Any, path: str) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``; None when a step is missing or not an object."""
    for key in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def need(doc: Any, path: str, kind: type | tuple[type, ...], what: str) -> Any:
    """:func:`at`, for a field that must be there with type ``kind`` (a bool is no int)."""
    value = at(doc, path)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise InputError(f"{what}: {path} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_json(body: bytes, content_type: str = "application/json") -> Any:
    """The document of a body: JSON, or GitHub's ``application/x-www-form-urlencoded``
    ``payload=``. A body that is not JSON, or nests deeper than the parser goes, is a 400."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
            return json.loads(form["payload"][0])
        return json.loads(body)
    except RecursionError:
        raise Reject(400, "the JSON payload is nested too deeply") from None
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        raise Reject(400, "the body is not a JSON payload") from None


# --- comments ---------------------------------------------------------------------------------

def github_event(payload: Any, what: str = "issue_comment event") -> CommentEvent:
    """The comment of a GitHub ``issue_comment`` payload (webhook or ``GITHUB_EVENT_PATH``)."""
    issue = need(payload, "issue", dict, what)
    return CommentEvent(
        number=need(payload, "issue.number", int, what),
        comment_id=need(payload, "comment.id", int, what),
        author=need(payload, "comment.user.login", str, what),
        body=text(at(payload, "comment.body")),
        author_is_bot=at(payload, "comment.user.type") == "Bot",
        on_pull_request=bool(issue.get("pull_request")),
        edited=payload.get("action") != "created")


def gitlab_note_event(payload: Any, what: str = "Note Hook") -> CommentEvent:
    """The note of a GitLab ``Note Hook`` payload; notes outside merge requests are marked
    ``on_pull_request=False``."""
    attrs = need(payload, "object_attributes", dict, what)
    on_mr = attrs.get("noteable_type") == "MergeRequest"
    return CommentEvent(
        number=need(payload, "merge_request.iid", int, what) if on_mr else 0,
        comment_id=need(payload, "object_attributes.id", int, what),
        author=need(payload, "user.username", str, what),
        body=text(attrs.get("note")),
        author_is_bot=bool(at(payload, "user.bot")),
        on_pull_request=on_mr,
        edited=attrs.get("action", "create") != "create",
        system=bool(attrs.get("system")))


# --- issue edits ------------------------------------------------------------------------------

def github_issue_edit(payload: Any, what: str = "issues event") -> IssueEdit | None:
    """The body edit of a GitHub ``issues`` ``edited`` payload; None for other actions, other
    fields, and pull requests."""
    if payload.get("action") != "edited" or not isinstance(at(payload, "changes.body.from"),
                                                           str):
        return None
    if at(payload, "issue.pull_request"):
        return None
    return IssueEdit(number=need(payload, "issue.number", int, what),
                     editor=need(payload, "sender.login", str, what),
                     before=at(payload, "changes.body.from"),
                     after=text(at(payload, "issue.body")),
                     editor_is_bot=at(payload, "sender.type") == "Bot")


def gitlab_issue_edit(payload: Any, what: str = "Issue Hook") -> IssueEdit | None:
    """The description edit of a GitLab ``Issue Hook`` ``update``; None otherwise."""
    change = at(payload, "changes.description")
    if at(payload, "object_attributes.action") != "update" or not isinstance(change, dict):
        return None
    return IssueEdit(number=need(payload, "object_attributes.iid", int, what),
                     editor=need(payload, "user.username", str, what),
                     before=text(change.get("previous")), after=text(change.get("current")),
                     editor_is_bot=bool(at(payload, "user.bot")))


def _edit(parse: Any, payload: Any, what: str) -> IssueEdit | None:
    try:
        edit: IssueEdit | None = parse(payload, what=what)
    except InputError as e:
        raise Reject(400, str(e)) from None
    return edit


# --- deliveries into jobs ---------------------------------------------------------------------

def _comment(parse: Any, payload: Any, what: str) -> CommentEvent:
    try:
        event: CommentEvent = parse(payload, what=what)
    except InputError as e:
        raise Reject(400, str(e)) from None
    return event


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Reject(400, "the payload is not a JSON object")
    return payload


def _pushed_branch(ref: str, live: bool) -> str | None:
    """The branch a push moved (``refs/heads/x`` -> ``x``); None for tags and deletions."""
    return ref.removeprefix("refs/heads/") if live and ref.startswith("refs/heads/") else None


def github_job(event: str, delivery: str, payload: Any) -> Job | None:
    """The job for a GitHub delivery, or None when there is nothing to do."""
    payload = _object(payload)
    job = functools.partial(Job, delivery=delivery, source="github",
                            repo=text(at(payload, "repository.full_name")))
    if event == "issue_comment":
        return job(kind=JobKind.COMMENT,
                   comment=_comment(github_event, payload, f"issue_comment {delivery}"))
    if event == "issues":
        edit = _edit(github_issue_edit, payload, f"issues {delivery}")
        return job(kind=JobKind.DASHBOARD, edit=edit) if edit else None
    if event == "pull_request":
        merged = payload.get("action") == "closed" and at(payload, "pull_request.merged") is True
        return job(kind=JobKind.PROMOTE, branch=text(at(payload, "pull_request.base.ref"))) \
            if merged else None
    if event == "push":
        branch = _pushed_branch(text(payload.get("ref")), not payload.get("deleted"))
        return job(kind=JobKind.PROMOTE, branch=branch) if branch else None
    if event in ("registry_package", "package"):
        images = github_package(payload)
        return job(kind=JobKind.POLL, images=images) if images else None
    return None


def github_package(payload: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(image, tag) of a GHCR ``registry_package`` / ``package`` ``published`` event."""
    pkg = payload.get("registry_package") or payload.get("package")
    if payload.get("action") not in ("published", "updated") or not isinstance(pkg, dict):
        return ()
    if text(pkg.get("package_type")).lower() not in ("container", "docker"):
        return ()
    tag = text(at(pkg, "package_version.container_metadata.tag.name"))
    url = text(at(pkg, "package_version.package_url"))
    if url and ":" in url.rsplit("/", 1)[-1]:
        image, _, url_tag = url.rpartition(":")
        tag = tag or url_tag
    else:
        owner = text(pkg.get("namespace")) or text(at(pkg, "owner.login"))
        image = f"ghcr.io/{owner.lower()}/{text(pkg.get('name'))}"
    return ((image, tag),) if tag and image else ()


def gitlab_job(event: str, delivery: str, payload: Any) -> Job | None:
    """The job for a GitLab delivery (``X-Gitlab-Event``), or None when there is nothing to do."""
    payload = _object(payload)
    job = functools.partial(Job, delivery=delivery, source="gitlab",
                            repo=text(at(payload, "project.path_with_namespace")))
    if event == "Note Hook":
        return job(kind=JobKind.COMMENT,
                   comment=_comment(gitlab_note_event, payload, f"Note Hook {delivery}"))
    if event == "Issue Hook":
        edit = _edit(gitlab_issue_edit, payload, f"Issue Hook {delivery}")
        return job(kind=JobKind.DASHBOARD, edit=edit) if edit else None
    if event == "Merge Request Hook":
        merged = at(payload, "object_attributes.action") == "merge"
        return job(kind=JobKind.PROMOTE,
                   branch=text(at(payload, "object_attributes.target_branch"))) \
            if merged else None
    if event == "Push Hook":
        branch = _pushed_branch(text(payload.get("ref")), bool(text(payload.get("after"))
                                                               .strip("0")))
        return job(kind=JobKind.PROMOTE, branch=branch) if branch else None
    return None


def registry_pushes(payload: Any) -> tuple[tuple[str, str], ...]:
    """(image, tag) pairs a registry notification announces: distribution's envelope
    (``events[]`` with ``action: push``), Docker Hub (``push_data``) or Harbor
    (``type: PUSH_ARTIFACT``)."""
    out: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        return ()
    for ev in items(payload.get("events")):
        repo, tag = text(at(ev, "target.repository")), text(at(ev, "target.tag"))
        if at(ev, "action") == "push" and tag and repo:
            host = text(at(ev, "request.host"))
            out.append((f"{host}/{repo}" if host else repo, tag))
    hub_tag, name = text(at(payload, "push_data.tag")), text(at(payload, "repository.repo_name"))
    if hub_tag and name:
        out.append((f"docker.io/{name}", hub_tag))
    if text(payload.get("type")).upper() == "PUSH_ARTIFACT":
        for res in items(at(payload, "event_data.resources")):
            url, tag = text(at(res, "resource_url")), text(at(res, "tag"))
            if url and tag:
                out.append((url.split("@")[0].removesuffix(f":{tag}"), tag))
    return tuple(dict.fromkeys((i, t) for i, t in out if i and t))


def registry_job(delivery: str, payload: Any) -> Job | None:
    """The poll a registry notification asks for, or None when it announces no push."""
    images = registry_pushes(payload)
    return Job(kind=JobKind.POLL, delivery=delivery, source="registry",
               images=images) if images else None


# --- a job as JSON (the queue's message body) --------------------------------------------------

def job_to_json(job: Job) -> dict[str, Any]:
    """``job`` as plain JSON values; :func:`job_from_json` reads it back equal."""
    c = job.comment
    return {"kind": job.kind.value, "delivery": job.delivery, "source": job.source,
            "repo": job.repo, "branch": job.branch, "images": [list(i) for i in job.images],
            "comment": None if c is None else {
                "number": c.number, "comment_id": c.comment_id, "author": c.author,
                "body": c.body, "author_is_bot": c.author_is_bot,
                "on_pull_request": c.on_pull_request, "edited": c.edited, "system": c.system},
            "edit": None if job.edit is None else {
                "number": job.edit.number, "editor": job.edit.editor,
                "before": job.edit.before, "after": job.edit.after,
                "editor_is_bot": job.edit.editor_is_bot}}


def job_from_json(doc: Any) -> Job:
    """The :class:`Job` of :func:`job_to_json`; :class:`InputError` naming the field when a
    message does not have that shape (a message from another version, or not ours)."""
    kind = need(doc, "kind", str, "job")
    try:
        job_kind = JobKind(kind)
    except ValueError:
        raise InputError(f"job: kind {kind!r} is not one of "
                         f"{', '.join(k.value for k in JobKind)}") from None
    c = at(doc, "comment")
    comment = None if c is None else CommentEvent(
        number=need(c, "number", int, "job comment"),
        comment_id=need(c, "comment_id", int, "job comment"),
        author=need(c, "author", str, "job comment"), body=need(c, "body", str, "job comment"),
        author_is_bot=need(c, "author_is_bot", bool, "job comment"),
        on_pull_request=need(c, "on_pull_request", bool, "job comment"),
        edited=need(c, "edited", bool, "job comment"),
        system=need(c, "system", bool, "job comment"))
    e = at(doc, "edit")  # absent in messages of versions before the dashboard
    edit = None if e is None else IssueEdit(
        number=need(e, "number", int, "job edit"), editor=need(e, "editor", str, "job edit"),
        before=need(e, "before", str, "job edit"), after=need(e, "after", str, "job edit"),
        editor_is_bot=need(e, "editor_is_bot", bool, "job edit"))
    branch = at(doc, "branch")
    images = need(doc, "images", list, "job")
    if not all(isinstance(i, list) and len(i) == 2 and all(isinstance(s, str) for s in i)
               for i in images):
        raise InputError("job: images must be [reference, tag] pairs")
    return Job(kind=job_kind, delivery=need(doc, "delivery", str, "job"),
               source=need(doc, "source", str, "job"), repo=need(doc, "repo", str, "job"),
               comment=comment, edit=edit, branch=branch if isinstance(branch, str) else None,
               images=tuple((i[0], i[1]) for i in images))
