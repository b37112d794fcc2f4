"""``.promoter.yaml`` as YAML: composed with the position of every key and value, checked
for inline secrets and against the shipped JSON Schema, each error one ``FILE:LINE:COL`` line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, TypeAlias

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promoter.config.model import (
    _did_you_mean,
)
from promoter.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# schema


@cache
def schema_text() -> str:
    """The JSON Schema of ``.promoter.yaml`` as shipped in the package."""
    return resources.files("promoter").joinpath("data/promoter.schema.json").read_text("utf-8")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------------------------------------
# composing YAML with positions

KeyPath: TypeAlias = tuple[str | int, ...]


@dataclass(slots=True)
class _Doc:
    file: str
    data: Any
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)  # 0-based line, col
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    nodes: int = 0
    building: set[int] = field(default_factory=set)  # ids of the nodes being built (cycles)

    def error(self, path: KeyPath, message: str, *, key: bool = False) -> ConfigError:
        return ConfigError(f"{self.where(path, key=key)}: {message}")

    def pos(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """0-based (line, column) of the key or value at ``path``, else of its nearest parent."""
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.values:
                return self.values[path[:n]]
        return (0, 0)

    def where(self, path: KeyPath, *, key: bool = False) -> str:
        line, col = self.pos(path, key=key)
        where = f"{self.file}:{line + 1}:{col + 1}"
        return f"{where}: {format_path(path)}" if path else where


def format_path(path: KeyPath) -> str:
    """``("images", 2, "policy", "semver")`` -> ``images[2].policy.semver``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_BOOL = {"true": True, "false": False}


def _scalar(node: ScalarNode) -> Any:
    tag, text = str(node.tag), node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return _BOOL.get(text.lower(), text)
    if tag.endswith(":int"):
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return int(text.replace("_", ""), 10)
    if tag.endswith(":float"):
        low = text.lower().lstrip("+")
        if low in (".inf", "-.inf", ".nan"):
            return float(low.replace(".", ""))
        return float(text.replace("_", ""))
    return text  # str, timestamp (kept as written), anything else


def _compose(text: str, file: str) -> _Doc:
    try:
        root = YAML(typ="safe").compose(text)  # libyaml when available; YAML 1.2 rules
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        what = ", ".join(str(p) for p in (e.context, e.problem) if p)
        raise ConfigError(f"{where}: invalid YAML: {what}") from None
    except YAMLError as e:
        raise ConfigError(f"{file}: invalid YAML: {e.__class__.__name__}") from None
    if root is None:
        raise ConfigError(f"{file}:1:1: the file is empty")
    doc = _Doc(file=file, data=None)
    doc.data = _build(root, (), doc)
    return doc


_MAX_NODES = 100_000  # aliases can multiply a small file ("billion laughs")


def _build(node: Node, path: KeyPath, doc: _Doc) -> Any:
    doc.values[path] = (node.start_mark.line, node.start_mark.column)
    doc.nodes += 1
    if doc.nodes > _MAX_NODES:
        raise doc.error(path, f"more than {_MAX_NODES} values; do aliases repeat too much?")
    if id(node) in doc.building:
        raise doc.error(path, "an alias refers to a node that contains it")
    doc.building.add(id(node))
    try:
        return _build_node(node, path, doc)
    finally:
        doc.building.discard(id(node))


def _build_node(node: Node, path: KeyPath, doc: _Doc) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc) for i, item in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    out: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for k, v in node.value:
        if str(k.tag).endswith(":merge"):
            sources = v.value if isinstance(v, SequenceNode) else [v]
            for src in sources:
                if not isinstance(src, MappingNode):
                    raise ConfigError(f"{doc.where(path)}: '<<' must merge a mapping")
                for mk, mv in _build(src, path, doc).items():
                    merged.setdefault(mk, mv)
            continue
        if not isinstance(k, ScalarNode):
            raise ConfigError(f"{doc.file}:{k.start_mark.line + 1}:{k.start_mark.column + 1}: "
                              "a key must be a plain string")
        key = str(k.value)
        if key in out:
            first = doc.keys[(*path, key)][0] + 1
            raise ConfigError(f"{doc.file}:{k.start_mark.line + 1}:{k.start_mark.column + 1}: "
                              f"{format_path((*path, key))}: duplicate key (first on line {first})")
        doc.keys[(*path, key)] = (k.start_mark.line, k.start_mark.column)
        out[key] = _build(v, (*path, key), doc)
    doc.values[path] = (node.start_mark.line, node.start_mark.column)
    return {**{k: v for k, v in merged.items() if k not in out}, **out}


# ---------------------------------------------------------------------------------------------
# inline secrets

_SECRET_KEYS = ("token", "password", "passwd", "secret", "private-key", "client-secret",
                "access-token", "api-key", "auth")
_SECRET_VALUE = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}")


def _walk(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _walk(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk(v, (*path, i))


def _check_no_secrets(doc: _Doc) -> None:
    for path, value in _walk(doc.data):
        if path and path[-1] in _SECRET_KEYS and not (len(path) >= 2 and path[-2] == "targets"):
            raise doc.error(path, "secrets must not be written in the config; put it in an "
                            f"environment variable and name that in {path[-1]}-env", key=True)
        if isinstance(value, str) and _SECRET_VALUE.search(value):
            raise doc.error(path, "this value looks like a secret; secrets must not be written "
                            "in the config, name an environment variable instead")


# ---------------------------------------------------------------------------------------------
# schema errors with positions

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def _type_of(value: Any) -> str:
    for name, t in (("boolean", bool), ("integer", int), ("number", float), ("string", str),
                    ("array", list), ("object", dict)):
        if isinstance(value, t):
            return _TYPE_NAMES[name]
    return "null"


def _schema_error(doc: _Doc, err: jsonschema.ValidationError) -> tuple[tuple[int, int], str]:
    """(position, one-line message) for one schema error."""
    path: KeyPath = tuple(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    v = err.validator
    inst: Any = err.instance
    want: Any = err.validator_value
    key = False
    if v == "additionalProperties":
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = next(k for k in inst
                     if k not in known and not any(re.search(p, k) for p in patterns))
        path, key = (*path, extra), True
        if known:
            msg = f"unknown key{_did_you_mean(extra, known)}; expected one of {', '.join(known)}"
        else:
            msg = "unknown key"
    elif v == "required":
        missing = [k for k in want if k not in inst]
        msg = f"missing required key {missing[0]!r}"
    elif v == "type":
        types: list[str] = want if isinstance(want, list) else [want]
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        msg = f"expected {expected}, got {_type_of(inst)}"
        if "string" in types and isinstance(inst, int | float):
            msg += " (quote it: '...')"
    elif v == "enum":
        choices = ", ".join(str(c) for c in want)
        shown = inst if isinstance(inst, str | int | float | bool) else "this"
        msg = f"must be one of {choices} (got {shown!r})"
    elif v == "const":
        msg = f"must be {want!r}"
    elif v == "pattern" or "errorMessage" in schema:
        msg = schema.get("errorMessage") or f"must match {want}"
    elif v in ("minItems", "minLength", "minProperties"):
        msg = "must not be empty" if want == 1 else (
            f"needs at least {want} entries")
    elif v == "minimum":
        msg = f"must be at least {want}"
    elif v == "exclusiveMinimum":
        msg = f"must be more than {want}"
    elif v == "uniqueItems":
        msg = "has repeated entries"
    else:
        msg = err.message
    return doc.pos(path, key=key), f"{doc.where(path, key=key)}: {msg}"


def _check_schema(doc: _Doc) -> None:
    found = []
    for err in _validator().iter_errors(doc.data):
        best = jsonschema.exceptions.best_match([err])
        found.append(_schema_error(doc, best))
    if found:
        found.sort()
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ConfigError(found[0][1] + more)


