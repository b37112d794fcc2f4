"""`promoter schema`, `promoter config validate`, and the schema kept in step with the code
and the documentation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from promoter.cli import main
from promoter.config import schema_text
from promoter.edit.model import Kind
from promoter.policy import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA_FILE = ROOT / "promoter" / "data" / "promoter.schema.json"


def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text())
    return data


def test_schema_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == SCHEMA_FILE.read_text()
    jsonschema.Draft202012Validator.check_schema(json.loads(out))


def test_schema_enums_follow_the_code() -> None:
    defs = _schema()["$defs"]
    assert defs["policy"]["properties"]["strategy"]["enum"] == list(STRATEGIES)
    assert defs["kind"]["enum"] == [k.value for k in Kind]


def _property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def test_every_key_is_documented() -> None:
    docs = (ROOT / "docs" / "config.md").read_text()
    documented = set(re.findall(r"`([a-z][a-z-]*)`", docs))
    assert sorted(_property_names(_schema()) - documented) == []


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".promoter.yaml").write_text(
        "environments: [{name: dev, paths: [d]}, {name: prod, paths: [p]}]\n"
        "images: [{repository: ghcr.io/acme/api}]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["config", "validate"]) == 0
    assert capsys.readouterr().out == (
        ".promoter.yaml: ok: 1 image(s); environments dev* -> prod (* tracks the registry); "
        "forge local\n")
    assert main(["config", "validate", str(ROOT / "examples" / "config" /
                                          "full.promoter.yaml")]) == 0


def test_validate_shows_a_graph_edge_by_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".promoter.yaml").write_text(
        "environments: [{name: dev, paths: [d]}, {name: eu, from: dev, paths: [e]},\n"
        "  {name: us, from: dev, paths: [u]}, {name: prod, from: [eu, us], paths: [p]}]\n"
        "images: [{repository: ghcr.io/acme/api}]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["config", "validate"]) == 0
    assert capsys.readouterr().out == (
        ".promoter.yaml: ok: 1 image(s); environments registry -> dev*; dev -> eu; dev -> us; "
        "eu, us -> prod (* tracks the registry); forge local\n")
    assert main(["config", "validate", "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(e["name"], e["from"]) for e in doc["environments"]] == [
        ("dev", []), ("eu", ["dev"]), ("us", ["dev"]), ("prod", ["eu", "us"])]


def test_validate_error_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_text("environments: [dev]\nimages:\n  - repository: a\n    targets: "
                    "{dev: [{file: x}]}\n    policy: {semver: 1.2}\n")
    assert main(["config", "validate", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"promoter: error: {conf}:5:22: images[0].policy.semver: expected "
                            "a string, got a number (quote it: '...')\n")


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"promoter: error: {tmp_path}/.promoter.yaml: no such file\n"
