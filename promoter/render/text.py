"""``--output text`` of every command: :func:`text` turns a command's result into the lines
printed (each ending in a newline)."""

from __future__ import annotations

import functools
from datetime import timedelta

from promoter.flows import check, fleet, poll, promote, rollback, status
from promoter.flows.promote import Decision
from promoter.flows.publish import PRResult
from promoter.plan import Plan
from promoter.registry.choose import TagsReport
from promoter.render import unified_diff, updates_table


@functools.singledispatch
def text(result: object) -> str:
    """The text of a command's result."""
    raise TypeError(f"no text for {type(result).__name__}")


def plan_text(plan: Plan, *, markdown: bool = False) -> str:
    """Each planned pull request with its updates and diff (``markdown``: headed sections and
    fenced diffs), then what was skipped."""
    if not plan.pull_requests:
        out = ["Nothing to change."]
    else:
        out = []
    for pr in plan.pull_requests:
        diff = "".join(unified_diff(p, pr.diffs[p], pr.files[p]) for p in sorted(pr.files))
        if markdown:
            out += [f"### {pr.title}", "", f"Branch `{pr.branch}` into `{pr.base}`", "",
                    updates_table(pr.updates), "", "```diff", diff.rstrip("\n"), "```", ""]
        else:
            out += [f"{pr.title}  ({pr.branch} -> {pr.base})"]
            out += [f"  {u.image}: {u.old_tag or '-'} -> {u.new_tag} ({u.update.value})"
                    for u in pr.updates]
            out += [diff.rstrip("\n"), ""]
    for what, why in plan.skipped:
        out.append(f"skipped {what}: {why}")
    return "\n".join(out).rstrip("\n") + "\n"


text.register(Plan, plan_text)


def pull_request_line(r: PRResult) -> str:
    """``env: branch: outcome action #N url: error``, what happened to one branch."""
    where = f" #{r.number} {r.url}" if r.number else ""
    err = f": {r.error}" if r.error else f": {r.reason}" if r.reason else ""
    return f"{r.env}: {r.branch}: {r.outcome}{(' ' + r.action) if r.action else ''}{where}{err}"


@text.register
def _poll(report: poll.Report) -> str:
    return plan_text(report.plan) + "".join(pull_request_line(r) + "\n"
                                            for r in report.results)


@text.register
def _promote(report: promote.Report) -> str:
    """One line per image and step, its open gates, then what happened to each PR."""
    out: list[str] = []
    for i in report.images:
        why = f": {i.reason}" if i.reason and i.decision != Decision.PROMOTE else ""
        if i.decision in (Decision.UP_TO_DATE, Decision.SKIPPED):
            move = i.from_tag or "-"
        else:
            move = f"{i.from_tag or '-'} -> {i.to_tag or '-'} ({i.update.value})"
        out.append(f"{i.source} -> {i.target}: {i.image} {move} {i.decision}{why}")
        out.extend(f"  {g.detail}" for g in i.gates if not g.passed)
    if not report.images:
        out.append("Nothing to promote.")
    out.extend(pull_request_line(r) for r in report.results)
    for s in report.statuses:
        merge = " (auto-merge on)" if s.auto_merge else ""
        out.append(f"#{s.number}: promoter/gates {s.state.value}: {s.description}{merge}")
    return "\n".join(out) + "\n"


@text.register
def _rollback(report: rollback.RollbackReport) -> str:
    lines = []
    for r in report.results:
        where = f" #{r.number} {r.url}" if r.number else ""
        err = f": {r.error}" if r.error else f" ({r.note})" if r.note else ""
        action = f" {r.action}" if r.action else ""
        lines.append(f"{r.env}: {r.image} {r.from_tag or '-'} -> {r.to_tag or '-'}: "
                     f"{r.branch}: {r.outcome}{action}{where}{err}")
        if r.diff:
            lines.append(r.diff.rstrip("\n"))
    return "\n".join(lines) + "\n" if lines else "Nothing to roll back.\n"


def format_age(delta: timedelta | None) -> str:
    """``45s``, ``12 min``, ``5h 10m``, ``3d 4h``; empty when unknown."""
    if delta is None:
        return ""
    s = int(delta.total_seconds())
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def version(cell: status.Cell) -> str:
    """The version a cell shows: its tag, else its short digest."""
    if cell.tag:
        return cell.tag
    return cell.digest[:19] if cell.digest else "-"


@text.register
def _status(st: status.Status) -> str:
    header = ["image", *st.environments]
    rows = [header]
    for name in st.images:
        row = [name]
        for env in st.environments:
            c = st.cell(name, env)
            if c is None:
                row.append("")
                continue
            age = format_age(c.age(st.generated))
            shown = version(c) + (f" ({age})" if age else "")
            shown += "".join(f" -> {p.tag} " + (f"#{p.number}" if p.number else
                                                 f"({p.branch})") for p in c.pending)
            row.append(shown + (" !" if c.drift else ""))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
           for r in rows]
    if not st.linear:
        out += [f"from: {env} <- {', '.join(sources)}" for env, sources in st.graph if sources]
    out += [f"drift: {c.image}: {c.drift}" for c in st.drifts]
    out += [f"lagging: {c.image} in {c.env}: {c.lagging}" for c in st.lagging]
    out += [f"problem: {c.image} in {c.env}: {p}" for c in st.cells for p in c.problems]
    out += [f"error: {e}" for e in st.errors]
    return "\n".join(out) + "\n"


@text.register
def _check(report: check.CheckReport) -> str:
    lines = ["rollback: the order and downgrade rules do not apply"] if report.rollback else []
    lines += [f"{v.rule.value}: {v.message}" for v in report.violations]
    lines += [f"not checked: {e}" for e in report.errors]
    lines += [f"{m.env}: {m.image} {m.old} -> {m.new}" for m in report.moves]
    n = len(report.violations)
    lines.append("ok" if report.exit_code == 0 else f"{n} violation(s)" if n else
                 "could not check everything")
    return "\n".join(lines) + "\n"


@text.register
def _tags(report: TagsReport) -> str:
    choice = report.choice
    if choice is None:
        return ""
    return "".join(f"{tag}\t{choice.digest}\tchosen\n" if tag == choice.chosen else f"{tag}\n"
                   for tag in choice.candidates)


@text.register
def _fleet(report: fleet.FleetReport) -> str:  # type: ignore[type-arg]
    """Each repository under its name, then one line for the fleet."""
    out = []
    for r in report.runs:
        out.append(f"== {r.name} ==")
        if r.failure:
            out += [f"failed: {p}" for p in r.failure]
        elif r.result is not None:
            out.append(text(r.result).rstrip("\n"))
        out.append("")
    failed = sum(1 for r in report.runs if r.exit_code)
    line = f"{len(report.runs)} repositories: {len(report.runs) - failed} ok, {failed} failed"
    if report.registry is not None and report.registry.asked:
        line += (f"; registry: {report.registry.asked - report.registry.shared} reads for "
                 f"{report.registry.asked} asked")
    out.append(line)
    return "\n".join(out) + "\n"
