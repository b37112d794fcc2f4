"""The dashboard issue: keep it up to date, and act on its ticked checkboxes.

:func:`refresh` gathers rows - promoter's open pull requests from the forge (pending, or held
when they carry their environment's hold label) and what a poll or promote run reported
(waiting for the limits, blocked by a gate, failed) - renders them with
:func:`promoter.dashboard.body` and keeps **one** issue per repository: the open issue labelled
``promoter/dashboard`` whose body carries the hidden marker, created once, rewritten only when
its body changed.

:func:`on_edit` handles an edit of that issue (GitHub ``issues`` ``edited``, GitLab ``Issue
Hook`` ``update``): each box that went from ``[ ]`` to ``[x]`` runs the comment command it
stands for, through :func:`promoter.flows.comment.run_for`, authorised exactly like a comment
(the editor needs write access; the environments' ``allowed-commenters`` apply). Without
write access nothing runs and the boxes are cleared again. Afterwards the dashboard is
refreshed, which also clears the boxes that ran.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from promoter import commands as c
from promoter import dashboard as d
from promoter import render
from promoter.config import Config
from promoter.errors import InputError, PromoterError
from promoter.flows import comment, poll, promote
from promoter.flows.publish import Outcome as Published
from promoter.flows.publish import PRResult
from promoter.forge import Forge, Issue
from promoter.secrets import redact
from promoter.webhooks import IssueEdit

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    DISABLED = "disabled"  # dashboard: false
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    outcome: Outcome
    number: int | None = None
    url: str | None = None
    rows: tuple[d.Row, ...] = ()
    error: str | None = None


# --- rows -------------------------------------------------------------------------------------

def forge_rows(cfg: Config, forge: Forge) -> list[d.Row]:
    """promoter's open pull requests as pending or held rows (from their hidden metadata)."""
    me = forge.me()
    rows = []
    for pr in forge.list_open():
        meta = render.read_meta(pr.body)
        if pr.author != me or meta is None or not isinstance(meta.get("images"), dict):
            continue
        env = next((e for e in cfg.environments if e.name == meta.get("env")), None)
        if env is None:
            continue
        held = env.gates.hold_label in pr.labels
        for image, tag in sorted(meta["images"].items()):
            rows.append(d.Row(state=d.State.HELD if held else d.State.PENDING, env=env.name,
                              image=str(image), version=str(tag), number=pr.number, url=pr.url,
                              action=d.Action.UNHOLD if held else d.Action.PROMOTE))
    return rows


def _result_rows(results: Sequence[PRResult], *, waiting: d.Action) -> list[d.Row]:
    rows = []
    for r in results:
        for image, version in sorted(r.images.items()) or [("", "")]:
            if r.outcome is Published.WAITING:
                rows.append(d.Row(state=d.State.WAITING, env=r.env, image=image,
                                  version=version, reason=r.reason or "", action=waiting))
            elif r.outcome is Published.FAILED:
                rows.append(d.Row(state=d.State.FAILED, env=r.env, image=image,
                                  version=version, reason=r.error or "failed"))
    return rows


def report_rows(report: object | None) -> list[d.Row]:
    """What a poll or promote run reported: waiting, blocked and failed rows."""
    if isinstance(report, poll.Report):
        return [*_result_rows(report.results, waiting=d.Action.POLL),
                *(d.Row(state=d.State.FAILED, env="", image=p.image or "", reason=p.message)
                  for p in report.errors)]
    if not isinstance(report, promote.Report):
        return []
    rows = _result_rows(report.results, waiting=d.Action.PROMOTE)
    for step in report.images:
        failing = [g.detail for g in step.gates if not g.passed]
        # a gate that fails: the step waits, stops, is refused, or its PR waits for the gate
        if failing or step.decision in (promote.Decision.WAITING, promote.Decision.STOPPED,
                                        promote.Decision.REFUSED):
            why = "; ".join(failing) or step.reason
            rows.append(d.Row(state=d.State.BLOCKED, env=step.target, image=step.image,
                              version=step.to_tag or "", reason=why,
                              action=d.Action.PROMOTE
                              if step.decision is promote.Decision.WAITING else None))
    rows.extend(d.Row(state=d.State.FAILED, env="", image=p.image or "", reason=p.message)
                for p in report.errors)
    return rows


# --- the issue --------------------------------------------------------------------------------

def find(forge: Forge) -> Issue | None:
    """The dashboard issue: open, labelled, with the marker, opened by promoter."""
    issue = forge.find_issue(label=d.LABEL)
    if issue is None or d.MARKER not in issue.body or issue.author != forge.me():
        return None
    return issue


def update(cfg: Config, forge: Forge, report: object | None = None,
           ran: Sequence[d.Box] = (), carry: Sequence[d.State] | None = None) -> Result:
    """Render the dashboard and create or rewrite its issue (only when the body changed).

    The sections in ``carry`` (default: without a ``report``, the waiting, blocked and failed
    ones, which only a run knows) keep the issue's rows, less those of the boxes that ``ran``.
    Raises what the forge raises."""
    if not cfg.dashboard.enabled:
        return Result(outcome=Outcome.DISABLED)
    issue = find(forge)
    found = forge_rows(cfg, forge) + report_rows(report)
    rows = tuple(r for state in d.SECTIONS
                 for r in d.order([x for x in found if x.state is state], cfg.env_names))
    carry = d.CARRIED if carry is None and report is None else carry or ()
    kept = {k: v for k, v in d.carried(issue.body, ran).items() if k in carry} \
        if issue is not None else None
    text = d.body(rows, env_order=cfg.env_names, kept=kept)
    title = cfg.dashboard.title
    if issue is None:
        made = forge.create_issue(title=title, body=text, labels=(d.LABEL,))
        return Result(outcome=Outcome.CREATED, number=made.number, url=made.url, rows=rows)
    if (issue.body, issue.title) == (text, title):
        return Result(outcome=Outcome.UNCHANGED, number=issue.number, url=issue.url, rows=rows)
    forge.update_issue(issue.number, title=title, body=text)
    return Result(outcome=Outcome.UPDATED, number=issue.number, url=issue.url, rows=rows)


def refresh(cfg: Config, forge: Forge | None, report: object | None = None,
            ran: Sequence[d.Box] = ()) -> Result:
    """:func:`update` after a run, never failing it: a forge error is logged and returned."""
    if forge is None or not cfg.dashboard.enabled:
        return Result(outcome=Outcome.DISABLED)
    try:
        return update(cfg, forge, report, ran)
    except PromoterError as e:
        log.warning("dashboard not updated: %s", redact(str(e)))
        return Result(outcome=Outcome.FAILED, error=redact(str(e)))


# --- ticked boxes -----------------------------------------------------------------------------

class EditOutcome(enum.StrEnum):
    IGNORED = "ignored"
    REFUSED = "refused"  # no write access: nothing ran, the boxes were cleared
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class EditReport:
    outcome: EditOutcome
    reason: str = ""
    answers: tuple[comment.Answer, ...] = ()


def _poll(cfg: Config, ports: comment.Ports, box: d.Box, author: str) -> comment.Answer:
    """A waiting poll row: the same poll, for that environment and image, past the limits."""
    env, image = box.arg("env") or "", box.arg("image") or ""
    cmd = c.Rebase()  # the poll that `rebase` runs for a registry pull request, for the answer
    try:
        cfg.environment(env)
        cfg.image(image)
        if not comment.allowed_in(cfg, env, author, ports.member_of):
            return comment.Answer(command=cmd, result=comment.Result.REFUSED,
                                  text=f"refused: commands for **{env}** are limited")
        if ports.workspace is None or ports.registry is None:
            raise InputError("a poll needs a checkout and the registry, which this run has not")
        with ports.workspace() as ws:
            done = poll.poll(cfg, ws, ports.registry(), ports.forge, envs=(env,),
                             images=(image,), limit=False)
    except InputError as e:
        return comment.Answer(command=cmd, result=comment.Result.DECLINED,
                              text=f"not done: {redact(str(e))}")
    except PromoterError as e:
        return comment.Answer(command=cmd, result=comment.Result.FAILED,
                              text=f"failed: {redact(str(e))}")
    lines = [f"{r.branch}: {r.outcome}" for r in done.results]
    return comment.Answer(command=cmd, result=comment.Result.DONE,
                          text="; ".join(lines) or "nothing to change")


def _command(box: d.Box) -> tuple[c.Command, int | None] | None:
    env, image, pr = box.arg("env"), box.arg("image"), box.arg("pr")
    number = int(pr) if pr and pr.isdigit() else None
    if box.action == d.Action.PROMOTE:
        # a pending pull request: "/promote ENV" on it (auto-merge); else "/promote ENV IMAGE"
        return (c.Promote(env=env), number) if number else (c.Promote(env=env, image=image),
                                                            None)
    if box.action == d.Action.UNHOLD and number is not None:
        return c.Unhold(), number
    return None


def on_edit(edit: IssueEdit, cfg: Config, ports: comment.Ports) -> EditReport:
    """Run what the boxes ticked in ``edit`` ask for (see the module docstring)."""
    forge = ports.forge
    boxes = d.ticked(edit.before, edit.after)
    if not cfg.dashboard.enabled or not boxes:
        return EditReport(outcome=EditOutcome.IGNORED,
                          reason="dashboard off" if boxes else "no box ticked")
    me = forge.me()
    if edit.editor_is_bot or edit.editor.lower() == me.lower():
        return EditReport(outcome=EditOutcome.IGNORED, reason=f"by a bot ({edit.editor})")
    issue = find(forge)
    if issue is None or issue.number != edit.number:
        return EditReport(outcome=EditOutcome.IGNORED, reason="not the dashboard issue")
    if not comment.authorized(forge, edit.editor):
        log.warning("dashboard #%s: %s may not run commands; boxes cleared", issue.number,
                    edit.editor)
        forge.update_issue(issue.number, body=d.reset(issue.body, boxes))
        return EditReport(outcome=EditOutcome.REFUSED, reason="no write access")
    answers = []
    ran = []
    for box in boxes:
        if box.action == d.Action.POLL:
            answers.append(_poll(cfg, ports, box, edit.editor))
            ran.append(box)
            continue
        todo = _command(box)
        if todo is None:
            continue
        cmd, number = todo
        try:
            answers.append(comment.run_for(cfg, ports, author=edit.editor, command=cmd,
                                           number=number, where=f"dashboard #{issue.number}"))
        except PromoterError as e:  # the pull request is gone: one box never stops the others
            answers.append(comment.Answer(command=cmd, result=comment.Result.FAILED,
                                          text=f"failed: {redact(str(e))}"))
        ran.append(box)
    for a in answers:
        log.info("dashboard #%s: %s by %s: %s", issue.number, c.describe(a.command),
                 edit.editor, a.result.value)
    done = [b for b, a in zip(ran, answers, strict=True) if a.result is comment.Result.DONE]
    if refresh(cfg, forge, ran=done).outcome is Outcome.FAILED:
        forge.update_issue(issue.number, body=d.reset(forge.get_issue(issue.number).body,
                                                      boxes))
    return EditReport(outcome=EditOutcome.DONE, answers=tuple(answers))
