"""CI feedback from findings: pure renderers, no I/O.

A :class:`Finding` is a :class:`~promoter.errors.Problem` (file, line, column, key, image,
message) with a level and the name of the check that found it. The renderers turn a sequence
of them into what each CI reads:

* :mod:`promoter.report.github` - workflow-command annotations (``::error file=,line=,col=``)
  and a job-summary Markdown section;
* :mod:`promoter.report.gitlab` - a Code Quality report (the JSON GitLab's merge request
  widget reads, ``artifacts:reports:codequality``);
* :mod:`promoter.report.junit` - a JUnit XML report (``artifacts:reports:junit``, and any
  test-report viewer) for ``check``.

Every text they write goes through :func:`promoter.secrets.redact` first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from promoter.errors import Problem, PromoterError


class Level(enum.Enum):
    """How bad a finding is; the names are GitHub's annotation commands."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    problem: Problem
    level: Level = Level.ERROR
    check: str = "config"  # the rule or command that found it: config, exists, order, ...


def findings_of(error: PromoterError, *, check: str = "config",
                level: Level = Level.ERROR) -> tuple[Finding, ...]:
    """Every problem ``error`` carries, as findings of ``check``."""
    return tuple(Finding(problem=p, level=level, check=check) for p in error.problems)


def counts(findings: Iterable[Finding]) -> dict[Level, int]:
    """How many findings of each level (every level present, in Level's order)."""
    out = dict.fromkeys(Level, 0)
    for f in findings:
        out[f.level] += 1
    return out


__all__ = ["Finding", "Level", "counts", "findings_of"]
