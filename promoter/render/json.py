"""``--output json`` of every command: :func:`document` turns a command's result into plain
data, :func:`envelope` wraps it in the one object every command prints, :func:`dumps` into the
text printed. One function per result type, registered on :func:`document`; the keys and
values are a contract other tools rely on (keep them, extend rather than rename).

The envelope (``schema_version`` 1)::

    {"schema_version": 1, "command": "plan", "exit_code": 0,
     ...the command's result under its keys ("plan", "pull_requests", "images", ...),
     "errors": [{"file", "line", "column", "key", "image", "message", "retryable"}, ...]}

It is printed on stdout whatever the exit code: on bad input (2) or a remote that did not
answer (3) before any result, the result's keys are absent and ``errors`` says why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from promoter import commands
from promoter.config import Config
from promoter.edit.model import Site
from promoter.errors import Problem
from promoter.flows import check, comment, dashboard, fleet, poll, promote, rollback, status
from promoter.flows.publish import PRResult
from promoter.plan import Plan
from promoter.registry.choose import TagsReport
from promoter.render import unified_diff


@functools.singledispatch
def document(result: object) -> Any:
    """The JSON document of a command's result."""
    raise TypeError(f"no JSON for {type(result).__name__}")


SCHEMA_VERSION = 1


def envelope(command: str, result: object | None, *, exit_code: int,
             errors: Sequence[Problem] | None = None) -> dict[str, Any]:
    """The one JSON object of every command: its result's keys (none for ``result`` None),
    ``errors`` (``errors``, else what the result found: :func:`problems`) and the schema
    version."""
    found = problems(result) if errors is None else tuple(errors)
    return {"schema_version": SCHEMA_VERSION, "command": command, "exit_code": exit_code,
            **(document(result) if result is not None else {}),
            "errors": [_problem(p) for p in found]}


def _problem(p: Problem) -> dict[str, Any]:
    return {**p.as_dict(), "retryable": p.retryable}


def problems(result: object) -> tuple[Problem, ...]:
    """What a command's result found wrong (its ``problems``, else its ``errors``)."""
    found = getattr(result, "problems", None)
    if found is None:
        found = getattr(result, "errors", None) or ()
    return tuple(p if isinstance(p, Problem) else Problem(message=str(p)) for p in found)


def dumps(result: object | None, *, command: str, exit_code: int,
          errors: Sequence[Problem] | None = None) -> str:
    """The JSON text of :func:`envelope` (no trailing newline)."""
    return json.dumps(envelope(command, result, exit_code=exit_code, errors=errors), indent=2)


class Sites(tuple[Site, ...]):
    """``find-images``' result: the references found (``images`` in the envelope)."""


@document.register
def _sites(sites: Sites) -> dict[str, Any]:
    return {"images": [site(s) for s in sites]}


def site(s: Site) -> dict[str, Any]:
    """One find-images object (the contract's keys, in order)."""
    return {"file": s.file, "line": s.line, "kind": s.kind.value, "name": s.name,
            "tag": s.ref.tag, "digest": s.ref.digest}


@document.register
def _config(cfg: Config) -> dict[str, Any]:
    return {"file": str(cfg.path) if isinstance(cfg.path, Path) else cfg.path,
            "images": [i.name for i in cfg.images if i.chart is None],
            "charts": [i.name for i in cfg.images if i.chart is not None],
            "environments": [{"name": e.name, "branch": e.branch, "track": e.track,
                              "from": list(e.sources)} for e in cfg.environments],
            "forge": cfg.forge.type.value}


@document.register
def _plan(plan: Plan) -> dict[str, Any]:
    return {"plan": _pull_requests(plan),
            "skipped": [{"image": i, "reason": why} for i, why in plan.skipped]}


def _pull_requests(plan: Plan) -> list[dict[str, Any]]:
    return [{
        "env": pr.env, "source_env": pr.source_env, "base": pr.base, "branch": pr.branch,
        "title": pr.title,
        "updates": [{"image": u.image, "repository": u.repository, "from": u.old_tag,
                     "to": u.new_tag, "from_digest": u.old_digest, "to_digest": u.new_digest,
                     "update": u.update.value, "files": list(u.files),
                     "kind": "chart" if u.chart else "image"} for u in pr.updates],
        "diff": "".join(unified_diff(p, pr.diffs[p], pr.files[p]) for p in sorted(pr.files)),
    } for pr in plan.pull_requests]


def _pull_request(r: PRResult) -> dict[str, Any]:
    return {"env": r.env, "branch": r.branch, "outcome": r.outcome, "action": r.action,
            "number": r.number, "url": r.url, "images": dict(r.images), "error": r.error,
            "reason": r.reason}


@document.register
def _dashboard(result: dashboard.Result) -> dict[str, Any]:
    return {"outcome": result.outcome.value, "number": result.number, "url": result.url,
            "error": result.error,
            "rows": [{"state": r.state.value, "env": r.env, "image": r.image,
                      "version": r.version, "reason": r.reason, "number": r.number,
                      "url": r.url or None, "action": r.action.value if r.action else None}
                     for r in result.rows]}


@document.register
def _poll(report: poll.Report) -> dict[str, Any]:
    return {"pull_requests": [_pull_request(r) for r in report.results],
            **_plan(report.plan),
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
        **_plan(report.plan)}


@document.register
def _rollback(report: rollback.RollbackReport) -> dict[str, Any]:
    return {"rollbacks": [{"image": r.image, "env": r.env, "from": r.from_tag, "to": r.to_tag,
             "branch": r.branch, "outcome": r.outcome, "action": r.action,
             "number": r.number, "url": r.url, "error": r.error, "note": r.note}
            for r in report.results]}


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


@document.register
def _status(st: status.Status) -> dict[str, Any]:
    return {
        "generated": st.generated.isoformat(),
        "environments": list(st.environments),
        "graph": [{"name": env, "from": list(sources), "depth": st.depth(env)}
                  for env, sources in st.graph],
        "images": [{
            "name": name, "repository": st.repositories.get(name),
            "environments": {c.env: {
                "tag": c.tag, "digest": c.digest,
                "since": c.since.isoformat() if c.since else None,
                "age_seconds": _seconds(c.age(st.generated)), "commit": c.commit,
                "pending": [{"number": p.number, "url": p.url, "tag": p.tag,
                             "rollback": p.rollback, "branch": p.branch}
                            for p in c.pending],
                "drift": c.drift, "problems": list(c.problems), "signature": c.signature,
                "lagging": c.lagging}
                for c in st.cells if c.image == name}}
            for name in st.images],
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
                        "message": v.message} for v in report.violations]}


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
            "too_young": [{"tag": t, "created": c.isoformat()}
                          for t, c in (choice.too_young if choice else ())]}


@document.register
def _fleet(report: fleet.FleetReport) -> dict[str, Any]:  # type: ignore[type-arg]
    """A fleet command: each repository's own result (its keys as the single-repository
    command prints them), its exit code and errors; the registry answers the run shared."""
    stats = report.registry
    return {"repositories": [{
        "name": r.name, "exit_code": r.exit_code, "seconds": round(r.seconds, 3),
        **(document(r.result) if r.result is not None else {}),
        "errors": [_problem(p) for p in r.own_problems]} for r in report.runs],
        "registry": None if stats is None else {"asked": stats.asked, "shared": stats.shared}}
