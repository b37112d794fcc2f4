"""GitLab: a Code Quality report, the JSON the merge request widget and the changes tab read
(``artifacts: reports: codequality``).

The report is a JSON array; each issue has ``description``, ``check_name``, ``fingerprint``
(a stable identity: GitLab compares the base's report with the head's by it), ``severity``
(``info``, ``minor``, ``major``, ``critical`` or ``blocker``) and ``location`` with ``path``
(relative to the repository root) and ``lines.begin``. The Code Climate spec's ``type``,
``categories`` and ``location.positions`` are added for other readers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from promoter.report import Finding, Level
from promoter.secrets import redact

SEVERITY = {Level.ERROR: "major", Level.WARNING: "minor", Level.NOTICE: "info"}


def code_quality(findings: Iterable[Finding], *, default_path: str = ".promoter.yaml") -> str:
    """The report as JSON text. A finding without a file is put on ``default_path`` line 1
    (GitLab drops issues without a location)."""
    issues: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for f in findings:
        p = f.problem
        path = _relative(p.file or default_path)
        line = p.line or 1
        description = redact(f"{p.key}: {p.message}" if p.key else p.message)
        identity = "\x00".join((f.check, path, p.key or "", p.image or "", description))
        base = hashlib.sha256(identity.encode()).hexdigest()
        n = seen.get(base, 0)
        seen[base] = n + 1
        fingerprint = base if n == 0 else hashlib.sha256(f"{base}:{n}".encode()).hexdigest()
        begin: dict[str, int] = {"line": line}
        if p.column is not None:
            begin["column"] = p.column
        issues.append({
            "type": "issue",
            "description": description,
            "check_name": f"promoter/{f.check}",
            "fingerprint": fingerprint,
            "severity": SEVERITY[f.level],
            "categories": ["Bug Risk"],
            "location": {"path": path, "lines": {"begin": line},
                         "positions": {"begin": begin}},
        })
    return json.dumps(issues, indent=2) + "\n"


def _relative(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/") or "."
