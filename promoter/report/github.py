"""GitHub Actions: workflow-command annotations and the job summary's Markdown.

An annotation is one line ``::error file=F,line=L,col=C,title=T::message``. The runner splits
the properties at ``,`` and each at its first ``=``, and unescapes ``%0D``, ``%0A``, ``%3A``,
``%2C`` and ``%25``; in the message only ``%0D``, ``%0A`` and ``%25``. :func:`escape_property`
and :func:`escape_data` are the inverses (those of ``@actions/core``). The lines must be
printed outside any ``::stop-commands::`` fence, or the runner shows them as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from promoter.report import Finding, Level, counts
from promoter.secrets import redact


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding, *, title: str | None = None) -> str:
    """The workflow command for one finding (its file, line and column when known)."""
    p = finding.problem
    props: list[tuple[str, str]] = []
    if p.file is not None:
        props.append(("file", p.file))
        if p.line is not None:
            props.append(("line", str(p.line)))
            if p.column is not None:
                props.append(("col", str(p.column)))
    props.append(("title", title or _title(finding)))
    message = f"{p.key}: {p.message}" if p.key else p.message
    rendered = ",".join(f"{k}={escape_property(redact(v))}" for k, v in props)
    return f"::{finding.level.value} {rendered}::{escape_data(redact(message))}"


def annotation_lines(findings: Iterable[Finding]) -> str:
    """One annotation line per finding, each ending in a newline."""
    return "".join(annotation(f) + "\n" for f in findings)


def _title(finding: Finding) -> str:
    title = f"promoter {finding.check}"
    return f"{title} ({finding.problem.image})" if finding.problem.image else title


_LABEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTICE: "notice"}


def job_summary(heading: str, findings: Sequence[Finding], *, hint: str | None = None) -> str:
    """A Markdown section for ``$GITHUB_STEP_SUMMARY``: what went wrong, where, and how many.

    ``hint`` (one line) says what to do next, e.g. the command that reproduces it locally.
    """
    n = counts(findings)
    tally = ", ".join(f"{count} {_LABEL[level]}{'s' if count != 1 else ''}"
                      for level, count in n.items() if count)
    lines = [f"### {_cell(heading)}", "", tally or "nothing found", ""]
    if findings:
        lines += ["| level | where | key | image | what |", "| --- | --- | --- | --- | --- |"]
        for f in findings:
            p = f.problem
            where = f"`{_code(p.where)}`" if p.where else ""
            key = f"`{_code(p.key)}`" if p.key else ""
            lines.append(f"| {_LABEL[f.level]} | {where} | {key} | {_cell(p.image or '')} "
                         f"| {_cell(p.message)} |")
        lines.append("")
    if hint:
        lines += [_cell(hint), ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: no line breaks, pipes or raw HTML."""
    text = redact(text).replace("\r", " ").replace("\n", " ")
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|"))


def _code(text: str) -> str:
    return redact(text).replace("`", "'").replace("|", "\\|").replace("\n", " ")
