"""A CI/CD component read the way GitLab reads one: the ``spec:`` header, the inputs checked
against their declared type, ``regex`` and ``options``, ``$[[ inputs.NAME ]]`` replaced in the
text after the ``---`` line, then the result parsed as YAML. Includes are merged key by key,
and a job name defined twice is an error (GitLab would silently let the later win)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.ci.actions import ROOT

COMPONENT = ROOT / "templates" / "promoter.yml"
TEMPLATE = ROOT / ".gitlab-ci-template.yml"
INPUT = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")
TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool,
                                             "number": (int, float), "array": list}


def released() -> str:
    """The newest release CHANGELOG.md names (its first ``## [X.Y.Z]`` section)."""
    m = re.search(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert m is not None, "CHANGELOG.md names no release"
    return m[1]


class InputError(ValueError):
    """What GitLab reports as an invalid include (the pipeline is not created)."""


def split(path: Path) -> tuple[dict[str, Any], str]:
    header, sep, body = path.read_text().partition("\n---\n")
    assert sep, f"{path}: no --- line after the spec header"
    spec = YAML(typ="safe").load(header)
    assert isinstance(spec, dict) and set(spec) == {"spec"}
    return spec["spec"], body


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def interpolate(path: Path, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    spec, body = split(path)
    declared: dict[str, Any] = spec["inputs"]
    given = dict(given or {})
    unknown = set(given) - set(declared)
    if unknown:
        raise InputError(f"unknown input(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, decl in declared.items():
        decl = decl or {}
        if name in given:
            value = given[name]
        elif "default" in decl:
            value = decl["default"]
        else:
            raise InputError(f"`{name}` input: required value has not been provided")
        kind = decl.get("type", "string")
        if not isinstance(value, TYPES[kind]) or (kind == "number" and isinstance(value, bool)):
            raise InputError(f"`{name}` input: provided value is not a {kind}")
        if "options" in decl and value not in decl["options"]:
            raise InputError(f"`{name}` input: `{value}` cannot be used because it is not in "
                             "the list of allowed options")
        if "regex" in decl and not re.search(decl["regex"], str(value)):
            raise InputError(f"`{name}` input: provided value does not match required RegEx")
        values[name] = value

    def one(m: re.Match[str]) -> str:
        if m[1] not in values:
            raise InputError(f"unknown interpolation key: `{m[1]}`")
        return render_value(values[m[1]])

    doc = YAML(typ="safe").load(INPUT.sub(one, body))
    assert isinstance(doc, dict)
    return doc


def include(*inputs: Mapping[str, Any], path: Path = COMPONENT) -> dict[str, Any]:
    """The pipeline configuration of ``include:`` entries of ``path``, one per inputs."""
    merged: dict[str, Any] = {}
    for given in inputs:
        doc = interpolate(path, given)
        clash = set(doc) & set(merged)
        if clash:
            raise InputError(f"jobs defined twice: {', '.join(sorted(clash))}")
        merged.update(doc)
    return merged


def resolve(jobs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A job with ``extends:`` applied (deep merge of mappings, the job's own keys win)."""
    job = dict(jobs[name])
    parents = job.pop("extends", [])
    for parent in [parents] if isinstance(parents, str) else list(parents):
        job = _merge(resolve(jobs, parent), job)
    return job


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def script_lines(job: Mapping[str, Any], keys: Sequence[str] = ("before_script", "script")
                 ) -> list[str]:
    return [line for key in keys for line in job.get(key, ())]
