"""CI renderers, read back the way their consumers read them: annotations as the Actions
runner parses workflow commands, Code Quality JSON against GitLab's documented fields, JUnit
with an XML parser."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from promoter import secrets
from promoter.config import load_config
from promoter.errors import ConfigError, Problem
from promoter.report import Finding, Level, counts, findings_of
from promoter.report.github import annotation, annotation_lines, job_summary
from promoter.report.gitlab import code_quality
from promoter.report.junit import junit

# the runner's ActionCommand: unescape in this order (the last turns %25 back into %)
_PROPERTY_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_DATA_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))


def _unescape(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for escaped, token in table:
        text = text.replace(escaped, token)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """What the runner's ActionCommand.TryParseV2 makes of one output line."""
    line = line.strip()
    assert line.startswith("::")
    end = line.index("::", 2)
    info, data = line[2:end], line[end + 2:]
    command, _, props = info.partition(" ")
    properties: dict[str, str] = {}
    for pair in (p for p in props.split(",") if p):
        key, sep, value = pair.partition("=")
        assert sep, pair
        properties[key] = _unescape(value, _PROPERTY_UNESCAPE)
    return command, properties, _unescape(data, _DATA_UNESCAPE)


def _finding(**kw: object) -> Finding:
    level = kw.pop("level", Level.ERROR)
    check = kw.pop("check", "config")
    assert isinstance(level, Level) and isinstance(check, str)
    return Finding(problem=Problem(**kw), level=level, check=check)  # type: ignore[arg-type]


def test_an_annotation_reads_back_as_written() -> None:
    f = _finding(file="deploy/a,b:c.yaml", line=3, column=7, key="images[0].policy.semver",
                 image="api", message="50% of it\nis wrong: really, yes")
    line = annotation(f)
    assert "\n" not in line
    assert parse_command(line) == ("error", {
        "file": "deploy/a,b:c.yaml", "line": "3", "col": "7", "title": "promoter config (api)"},
        "images[0].policy.semver: 50% of it\nis wrong: really, yes")


@pytest.mark.parametrize(("level", "command"), [(Level.ERROR, "error"),
                                                (Level.WARNING, "warning"),
                                                (Level.NOTICE, "notice")])
def test_levels_and_missing_positions(level: Level, command: str) -> None:
    f = _finding(message="registry down: 503", level=level, check="exists")
    assert annotation(f) == f"::{command} title=promoter exists::registry down: 503"
    f = _finding(file="a.yaml", message="m", level=level)  # no line: no col either
    assert parse_command(annotation(f))[1] == {"file": "a.yaml", "title": "promoter config"}


def test_an_annotation_can_not_inject_a_second_command() -> None:
    f = _finding(file="x.yaml", line=1, message="bad\n::error::pwned\r\n::stop-commands::x")
    out = annotation_lines([f])
    assert out.count("\n") == 1 and out.endswith("\n")  # one line: the runner reads one command
    assert parse_command(out)[2] == "bad\n::error::pwned\r\n::stop-commands::x"


def test_annotations_never_show_a_secret() -> None:
    secrets.register("s3cr3t-value-123")
    f = _finding(file="x.yaml", line=1, message="token s3cr3t-value-123 refused")
    assert "s3cr3t" not in annotation(f)
    assert "s3cr3t" not in job_summary("promoter check", [f])
    assert "s3cr3t" not in code_quality([f])
    assert "s3cr3t" not in junit([f])


def _config_error(tmp_path: Path) -> ConfigError:
    conf = tmp_path / ".promoter.yaml"
    conf.write_text("environments: [dev, dev]\n"
                    "images: [{repository: ghcr.io/a/api, policy: {semver: '>=1.x.y'},"
                    " targets: {dev: [{file: a}]}}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    return info.value


def test_a_config_error_becomes_one_annotation_per_problem(tmp_path: Path) -> None:
    error = _config_error(tmp_path)
    findings = findings_of(error)
    lines = annotation_lines(findings).splitlines()
    parsed = [parse_command(line) for line in lines]
    assert [(c, p["line"], p["col"]) for c, p, _ in parsed] == [("error", "1", "21"),
                                                                ("error", "2", "55")]
    assert parsed[1][1]["file"] == str(tmp_path / ".promoter.yaml")
    assert parsed[1][2] == ("images[0].policy.semver: invalid semver range '>=1.x.y': '1.x.y' "
                            "is not a version")


def test_job_summary_says_what_and_where(tmp_path: Path) -> None:
    findings = [*findings_of(_config_error(tmp_path)),
                _finding(message="a | b <script>", level=Level.WARNING)]
    md = job_summary("promoter config validate", findings,
                     hint="Run `promoter config validate` locally to see the same.")
    lines = md.splitlines()
    assert lines[0] == "### promoter config validate"
    assert lines[2] == "2 errors, 1 warning"
    assert lines[4:6] == ["| level | where | key | image | what |",
                          "| --- | --- | --- | --- | --- |"]
    assert lines[6] == (f"| error | `{tmp_path}/.promoter.yaml:1:21` | `environments[1]` |  | "
                        "duplicate environment 'dev' (also environments[0]) |")
    assert lines[8] == "| warning |  |  |  | a \\| b &lt;script&gt; |"
    assert lines[-1] == "Run `promoter config validate` locally to see the same."
    assert job_summary("ok", []).splitlines()[2] == "nothing found"
    # every table row has the header's five cells (escaped pipes do not split)
    for row in lines[4:9]:
        assert len(re.split(r"(?<!\\)\|", row)) == 7


def test_code_quality_has_the_fields_gitlab_reads() -> None:
    findings = [
        _finding(file="./overlays/prod/kustomization.yaml", line=12, column=5, image="api",
                 message="api 9.9.9 does not exist in ghcr.io/acme/api", check="exists"),
        _finding(message="registry unreachable", level=Level.WARNING, check="exists"),
        _finding(file="a.yaml", line=1, message="same", level=Level.NOTICE),
        _finding(file="a.yaml", line=1, message="same", level=Level.NOTICE),
    ]
    report = json.loads(code_quality(findings))
    assert isinstance(report, list) and len(report) == 4
    for issue in report:
        # GitLab's required fields and their types
        assert isinstance(issue["description"], str) and issue["description"]
        assert isinstance(issue["check_name"], str)
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert isinstance(issue["location"]["path"], str)
        assert not issue["location"]["path"].startswith(("/", "./"))
        assert isinstance(issue["location"]["lines"]["begin"], int)
        assert issue["location"]["lines"]["begin"] >= 1
    assert report[0] == {
        "type": "issue", "description": "api 9.9.9 does not exist in ghcr.io/acme/api",
        "check_name": "promoter/exists", "fingerprint": report[0]["fingerprint"],
        "severity": "major", "categories": ["Bug Risk"],
        "location": {"path": "overlays/prod/kustomization.yaml", "lines": {"begin": 12},
                     "positions": {"begin": {"line": 12, "column": 5}}}}
    assert report[1]["location"] == {"path": ".promoter.yaml", "lines": {"begin": 1},
                                     "positions": {"begin": {"line": 1}}}
    assert [i["severity"] for i in report] == ["major", "minor", "info", "info"]
    assert len({i["fingerprint"] for i in report}) == 4  # twins still differ
    # stable across runs, and across a move to another line
    moved = [_finding(file="overlays/prod/kustomization.yaml", line=30, column=5, image="api",
                      message="api 9.9.9 does not exist in ghcr.io/acme/api", check="exists")]
    assert json.loads(code_quality(moved))[0]["fingerprint"] == report[0]["fingerprint"]
    assert json.loads(code_quality([])) == []


def test_junit_one_case_per_file_failing_with_its_errors() -> None:
    findings = [
        _finding(file="overlays/prod/k.yaml", line=3, column=1, message="api 9.9.9 missing",
                 check="exists"),
        _finding(file="overlays/prod/k.yaml", line=9, column=1, message="skips staging",
                 check="order"),
        _finding(file="overlays/dev/k.yaml", line=2, message="goes back", level=Level.WARNING,
                 check="downgrade"),
        _finding(message="bad \x01 byte", check="yaml"),
    ]
    xml = junit(findings, checked=["overlays/ok.yaml", "overlays/prod/k.yaml"], seconds=1.25)
    assert xml.startswith("<?xml version='1.0' encoding='utf-8'?>\n")
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("time")) == ("4", "2", "1.250")
    (suite,) = root
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["overlays/ok.yaml", "overlays/prod/k.yaml", "overlays/dev/k.yaml",
                           "(yaml)"]
    assert cases["overlays/ok.yaml"].find("failure") is None
    failure = cases["overlays/prod/k.yaml"].find("failure")
    assert failure is not None
    assert failure.get("message") == "api 9.9.9 missing (and 1 more)"
    assert failure.get("type") == "promoter/exists"
    assert failure.text == ("overlays/prod/k.yaml:3:1: api 9.9.9 missing\n"
                            "overlays/prod/k.yaml:9:1: skips staging\n")
    dev = cases["overlays/dev/k.yaml"]
    assert dev.find("failure") is None
    out = dev.find("system-out")
    assert out is not None and out.text == "warning: overlays/dev/k.yaml:2: goes back\n"
    yaml_failure = cases["(yaml)"].find("failure")
    assert yaml_failure is not None and yaml_failure.get("message") == "bad ? byte"


def test_counts() -> None:
    assert counts([_finding(message="a"), _finding(message="b", level=Level.NOTICE)]) == {
        Level.ERROR: 1, Level.WARNING: 0, Level.NOTICE: 1}
