"""``--output markdown`` of every command that has one, the CI job summaries and the
comment replies: :func:`markdown` turns a command's result into Markdown."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from promoter.flows import check, poll, status
from promoter.flows.publish import Outcome, PRResult
from promoter.plan import Plan
from promoter.render import table_cell
from promoter.render.text import format_age, plan_text, version


@functools.singledispatch
def markdown(result: object) -> str:
    """The Markdown of a command's result."""
    raise TypeError(f"no Markdown for {type(result).__name__}")


@markdown.register
def _plan(plan: Plan) -> str:
    return plan_text(plan, markdown=True)


@markdown.register
def _poll(report: poll.Report) -> str:
    return plan_text(report.plan, markdown=True) + waiting_section(report.results)


def waiting_section(results: Sequence[PRResult]) -> str:
    """The pull requests the limits held back, as a Markdown list ("" when none waits)."""
    rows = [f"- `{r.branch}` ({r.env}): "
            + ", ".join(f"`{k}` {v}" for k, v in sorted(r.images.items()))
            + f" - {table_cell(r.reason or '')}"
            for r in results if r.outcome is Outcome.WAITING]
    return "\n### Waiting\n\n" + "\n".join(rows) + "\n" if rows else ""


@markdown.register
def _status(st: status.Status) -> str:
    def cell(c: status.Cell | None) -> str:
        if c is None:
            return ""
        age = format_age(c.age(st.generated))
        parts = [f"**{version(c)}**" + (f" ({age})" if age else "")]
        parts += [f"{'rollback' if p.rollback else 'pending'} "
                  f"{f'[#{p.number}]({p.url})' if p.number else f'`{p.branch}`'} "
                  f"-> {p.tag}" for p in c.pending]
        if c.drift:
            parts.append(":warning: drift")
        return "<br>".join(p.replace("|", "\\|") for p in parts)

    out = ["| image | " + " | ".join(st.environments) + " |",
           "| --- |" + " --- |" * len(st.environments)]
    for name in st.images:
        out.append(f"| `{name}` | " + " | ".join(cell(st.cell(name, e))
                                                  for e in st.environments) + " |")
    if not st.linear:
        out += ["", "**Promotion graph**", ""] + [
            f"- {env} from {', '.join(sources) or 'the registry'}" for env, sources in st.graph]
    if st.drifts:
        out += ["", "**Drift**", ""] + [f"- `{c.image}`: {c.drift}" for c in st.drifts]
    if st.lagging:
        out += ["", "**Waiting for a source**", ""] + [
            f"- `{c.image}` in {c.env}: {c.lagging}" for c in st.lagging]
    problems = [f"- `{c.image}` in {c.env}: {p}" for c in st.cells for p in c.problems]
    problems += [f"- {e}" for e in st.errors]
    if problems:
        out += ["", "**Problems**", "", *problems]
    return "\n".join(out) + "\n"


@markdown.register
def _check(report: check.CheckReport) -> str:
    """The Markdown for the CI log, the job summary and the check run."""
    verdict = (":white_check_mark: **promoter check passed**" if report.exit_code == 0 else
               f":x: **promoter check failed**: {len(report.violations)} violation(s)"
               if report.violations else ":warning: **promoter check could not finish**")
    out = [verdict, ""]
    if report.rollback:
        out += ["This change is a rollback: the order and downgrade rules do not apply.", ""]
    if report.violations:
        out += ["| rule | problem |", "| --- | --- |"]
        out += [f"| {v.rule.value} | {table_cell(v.message)} |" for v in report.violations]
        out.append("")
    if report.errors:
        out += ["Not checked:", ""] + [f"- {e}" for e in report.errors] + [""]
    if report.moves:
        out += ["| image | environment | from | to |", "| --- | --- | --- | --- |"]
        out += [f"| `{m.image}` | {m.env} | {table_cell(m.old)} | **{table_cell(m.new)}** |"
                for m in report.moves]
    else:
        out.append("The change moves no image.")
    touched = len(report.files)
    out += ["", f"{touched} file(s) changed since `{report.fork[:12]}`, "
                f"checked against base `{report.base[:12]}`."]
    return "\n".join(out) + "\n"
