"""``--output json`` of every command: :func:`document` turns a command's result into plain
data, :func:`dumps` into the text printed. One function per result type, registered on
:func:`document`; the keys and values are a contract other tools rely on (keep them, extend
rather than rename)."""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from typing import Any

from promoter import commands
from promoter.flows import check, comment, poll, promote, rollback, status
from promoter.flows.publish import PRResult
from promoter.plan import Plan
from promoter.registry.choose import TagsReport
from promoter.render import unified_diff


def dumps(result: object) -> str:
    """The JSON text of ``result`` (no trailing newline)."""
    return json.dumps(document(result), indent=2)


@functools.singledispatch
def document(result: object) -> Any:
    """The JSON document of a command's result."""
    raise TypeError(f"no JSON for {type(result).__name__}")


@document.register
def _plan(plan: Plan) -> list[dict[str, Any]]:
    return [{
        "env": pr.env, "source_env": pr.source_env, "base": pr.base, "branch": pr.branch,
        "title": pr.title,
        "updates": [{"image": u.image, "repository": u.repository, "from": u.old_tag,
                     "to": u.new_tag, "from_digest": u.old_digest, "to_digest": u.new_digest,
                     "update": u.update.value, "files": list(u.files)} for u in pr.updates],
        "diff": "".join(unified_diff(p, pr.diffs[p], pr.files[p]) for p in sorted(pr.files)),
    } for pr in plan.pull_requests]


def _pull_request(r: PRResult) -> dict[str, Any]:
    return {"env": r.env, "branch": r.branch, "outcome": r.outcome, "action": r.action,
            "number": r.number, "url": r.url, "images": dict(r.images), "error": r.error}


@document.register
def _poll(report: poll.Report) -> dict[str, Any]:
    return {"pull_requests": [_pull_request(r) for r in report.results],
            "plan": _plan(report.plan), "errors": [str(e) for e in report.errors],
            "skipped": [{"image": i, "reason": why} for i, why in report.plan.skipped],
            "seconds": {k: round(v, 3) for k, v in report.phases.items()}}


def _image_step(i: promote.ImageStep) -> dict[str, Any]:
    return {"image": i.image, "source": i.source, "target": i.target,
            "from": i.from_tag, "from_digest": i.from_digest, "to": i.to_tag,
            "to_digest": i.to_digest, "update": i.update.value,
            "decision": i.decision.value, "reason": i.reason,
            "since": i.since.isoformat() if i.since else None, "commit": i.commit,
            "gates": [{"gate": g.name, "state": g.state.value, "detail": g.detail}
                      for g in i.gates]}


@document.register
def _promote(report: promote.Report) -> dict[str, Any]:
    return {
        "steps": [{"source": s, "target": t} for s, t in report.steps],
        "images": [_image_step(i) for i in report.images],
        "pull_requests": [_pull_request(r) for r in report.results],
        "statuses": [{"number": s.number, "sha": s.sha, "state": s.state.value,
                      "description": s.description, "auto_merge": s.auto_merge}
                     for s in report.statuses],
        "plan": _plan(report.plan), "errors": [str(e) for e in report.errors]}


@document.register
def _rollback(report: rollback.RollbackReport) -> list[dict[str, Any]]:
    return [{"image": r.image, "env": r.env, "from": r.from_tag, "to": r.to_tag,
             "branch": r.branch, "outcome": r.outcome, "action": r.action,
             "number": r.number, "url": r.url, "error": r.error, "note": r.note}
            for r in report.results]


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


@document.register
def _status(st: status.Status) -> dict[str, Any]:
    return {
        "generated": st.generated.isoformat(),
        "environments": list(st.environments),
        "images": [{
            "name": name, "repository": st.repositories.get(name),
            "environments": {c.env: {
                "tag": c.tag, "digest": c.digest,
                "since": c.since.isoformat() if c.since else None,
                "age_seconds": _seconds(c.age(st.generated)), "commit": c.commit,
                "pending": [{"number": p.number, "url": p.url, "tag": p.tag,
                             "rollback": p.rollback} for p in c.pending],
                "drift": c.drift, "problems": list(c.problems)}
                for c in st.cells if c.image == name}}
            for name in st.images],
        "errors": [str(e) for e in st.errors],
    }


@document.register
def _check(report: check.CheckReport) -> dict[str, Any]:
    return {
        "ok": report.exit_code == 0, "base": report.base, "head": report.head,
        "fork": report.fork, "rollback": report.rollback, "files": list(report.files),
        "moves": [{"image": m.image, "repository": m.repository, "env": m.env,
                   "from": m.old_tag, "to": m.new_tag, "from_digest": m.old_digest,
                   "to_digest": m.new_digest, "files": list(m.files)} for m in report.moves],
        "violations": [{"rule": v.rule.value, "image": v.image, "env": v.env,
                        "message": v.message} for v in report.violations],
        "errors": [str(e) for e in report.errors]}


@document.register
def _comment(report: comment.Report) -> dict[str, Any]:
    return {"outcome": report.outcome.value, "reason": report.reason,
            "commands": [{"command": commands.describe(a.command), "result": a.result.value,
                          "text": a.text}
                         for a in report.answers]}


@document.register
def _tags(report: TagsReport) -> dict[str, Any]:
    choice = report.choice
    chosen = None
    if choice is not None and choice.chosen is not None:
        chosen = {"tag": choice.chosen, "digest": choice.digest}
    return {"image": report.image.name, "chosen": chosen,
            "candidates": list(choice.candidates) if choice else [],
            "errors": [str(e) for e in report.errors],
            "too_young": [{"tag": t, "created": c.isoformat()}
                          for t, c in (choice.too_young if choice else ())]}
