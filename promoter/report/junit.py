"""A JUnit XML report for ``check``: one test case per file checked (and one per check for
findings without a file), failing with the errors found in it. GitLab shows it in the merge
request (``artifacts: reports: junit``); Jenkins and most CI viewers read the same format."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from promoter.report import Finding, Level
from promoter.secrets import redact


def junit(findings: Sequence[Finding], *, checked: Iterable[str] = (), suite: str = "promoter",
          seconds: float = 0.0) -> str:
    """The report as XML text; ``checked`` names the files that were checked and passed too."""
    cases: dict[str, list[Finding]] = {name: [] for name in checked}
    for f in findings:
        cases.setdefault(f.problem.file or f"({f.check})", []).append(f)
    failures = sum(1 for found in cases.values() if any(f.level is Level.ERROR for f in found))
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(failures),
                      errors="0", time=f"{seconds:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                       failures=str(failures), errors="0", skipped="0", time=f"{seconds:.3f}")
    for name, found in cases.items():
        case = ET.SubElement(ts, "testcase", name=redact(name), classname=f"{suite}.check",
                             time="0")
        errors = [f for f in found if f.level is Level.ERROR]
        if errors:
            first = errors[0].problem
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            failure = ET.SubElement(case, "failure", type=f"promoter/{errors[0].check}",
                                    message=redact(_line(first.message) + more))
            failure.text = "\n".join(_line(str(f.problem)) for f in errors) + "\n"
        others = [f for f in found if f.level is not Level.ERROR]
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"{f.level.value}: {_line(str(f.problem))}" for f in others) + "\n"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _line(text: str) -> str:
    """One redacted line, without the control characters XML 1.0 cannot hold."""
    text = redact(text).replace("\r", " ").replace("\n", " ")
    return "".join(c if c in "\t" or ord(c) >= 0x20 else "?" for c in text)
