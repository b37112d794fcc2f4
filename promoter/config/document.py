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
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from promoter.config.model import (
    _did_you_mean,
)
from promoter.errors import ConfigError, Problem

# ---------------------------------------------------------------------------------------------
# schema


@cache
def schema_text() -> str:
    """The JSON Schema of ``.promoter.yaml`` as shipped in the package."""
    return resources.files("promoter").joinpath("data/promoter.schema.json").read_text("utf-8")


@cache
def _validator(name: str = "promoter.schema.json") -> jsonschema.Draft202012Validator:
    """The validator of a schema shipped in ``promoter/data`` (the config's by default)."""
    text = resources.files("promoter").joinpath(f"data/{name}").read_text("utf-8")
    schema = json.loads(text)
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
    problems: list[Problem] = field(default_factory=list)  # found so far, in any order
    mistyped: set[str] = field(default_factory=set)  # keys of values of the wrong type

    def problem(self, path: KeyPath, message: str, *, key: bool = False) -> Problem:
        line, col = self.pos(path, key=key)
        return Problem(file=self.file, line=line + 1, column=col + 1,
                       key=format_path(path) or None, image=self.image_name(path),
                       message=message)

    def error(self, path: KeyPath, message: str, *, key: bool = False) -> ConfigError:
        return problems_error([self.problem(path, message, key=key)])

    def at(self, line: int, col: int, message: str) -> Problem:
        """A problem at a 0-based position that no key path names."""
        return Problem(file=self.file, line=line + 1, column=col + 1, message=message)

    def image_name(self, path: KeyPath) -> str | None:
        """The name of the image ``path`` is inside (``images[2]...``), as the loader names it."""
        if len(path) < 2 or path[0] != "images" or not isinstance(path[1], int):
            return None
        images = self.data.get("images") if isinstance(self.data, dict) else None
        if not isinstance(images, list) or not 0 <= path[1] < len(images):
            return None
        raw = images[path[1]]
        if not isinstance(raw, dict):
            return None
        name, repo = raw.get("name"), raw.get("repository")
        if isinstance(name, str) and name:
            return name
        if isinstance(repo, str) and repo:
            return repo.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] or None
        return None

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


def problems_error(found: list[Problem]) -> ConfigError:
    """One :class:`ConfigError` for ``found`` (at least one), in document order: its message
    is the first problem's line, plus ``(and N more)``."""
    # one problem per key (and line) or place: the last found, so where the loader's checks
    # speak about a key the schema complained of too, their more precise reason wins
    unique = {(p.key, p.line) if p.key else (p.line, p.column): p for p in found}
    ordered = sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0))
    more = f" (and {len(ordered) - 1} more)" if len(ordered) > 1 else ""
    return ConfigError(f"{ordered[0]}{more}", problems=ordered)


def file_error(file: str, message: str) -> ConfigError:
    """A problem with the file as a whole (missing, unreadable): no line to name."""
    return problems_error([Problem(file=file, message=message)])


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


def decode(data: bytes, file: str) -> str:
    """``data`` as UTF-8 text (a BOM is dropped); a one-line error at the first byte that is not
    UTF-8, naming its line, column and byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start
        line = data.count(b"\n", 0, start) + 1
        col = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise problems_error([Problem(
            file=file, line=line, column=col,
            message=f"not UTF-8 text: byte 0x{data[start]:02x} at offset {start}; "
                    "is this a binary file? save the config as UTF-8")]) from None


MAX_DEPTH = 64  # a config is a handful of levels deep; the YAML composer recurses per level


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, naming where it starts (the event parser
    does not recurse)."""
    depth = 0
    for event in YAML(typ="safe").parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise problems_error([Problem(
                    file=file, line=mark.line + 1, column=mark.column + 1,
                    message=f"nested more than {MAX_DEPTH} levels deep")])
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _compose(text: str, file: str) -> _Doc:
    doc = _Doc(file=file, data=None)
    try:
        try:
            root = YAML(typ="safe").compose(text)  # libyaml when available; YAML 1.2 rules
        except RecursionError:  # the composer recurses per level: find where, without it
            _check_depth(text, file)
            raise file_error(file, f"nested more than {MAX_DEPTH} levels deep") from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = ", ".join(str(p) for p in (e.context, e.problem) if p)
        if mark is None:
            raise file_error(file, f"invalid YAML: {what}") from None
        raise problems_error([doc.at(mark.line, mark.column, f"invalid YAML: {what}")]) from None
    except ReaderError as e:  # a character YAML does not allow (NUL, other controls)
        before = text[:e.position]
        line, col = before.count("\n"), e.position - (before.rfind("\n") + 1)
        char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise problems_error([doc.at(line, col, f"invalid YAML: character {char} is not "
                                                "allowed; is this a binary file?")]) from None
    except YAMLError as e:
        raise file_error(file, f"invalid YAML: {str(e).splitlines()[0]}") from None
    if root is None:
        raise doc.error((), "the file is empty")
    doc.data = _build(root, (), doc)
    return doc


_MAX_NODES = 100_000  # aliases can multiply a small file ("billion laughs")


def _build(node: Node, path: KeyPath, doc: _Doc) -> Any:
    doc.values[path] = (node.start_mark.line, node.start_mark.column)
    doc.nodes += 1
    if doc.nodes > _MAX_NODES:
        raise doc.error(path, f"more than {_MAX_NODES} values; do aliases repeat too much?")
    if len(path) > MAX_DEPTH:  # what the composer's recursion let through, or aliases nested
        mark = node.start_mark
        raise problems_error([doc.at(mark.line, mark.column,
                                     f"nested more than {MAX_DEPTH} levels deep")])
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
                    doc.problems.append(doc.problem(path, "'<<' must merge a mapping"))
                    continue
                for mk, mv in _build(src, path, doc).items():
                    merged.setdefault(mk, mv)
            continue
        if not isinstance(k, ScalarNode):
            doc.problems.append(doc.at(k.start_mark.line, k.start_mark.column,
                                       "a key must be a plain string"))
            continue
        key = str(k.value)
        if key in out:  # the first one counts; every repeat is reported
            first = doc.keys[(*path, key)][0] + 1
            doc.problems.append(Problem(
                file=doc.file, line=k.start_mark.line + 1, column=k.start_mark.column + 1,
                key=format_path((*path, key)), message=f"duplicate key (first on line {first})"))
            continue
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
            doc.problems.append(doc.problem(
                path, "secrets must not be written in the config; put it in an environment "
                f"variable and name that in {path[-1]}-env", key=True))
        elif isinstance(value, str) and _SECRET_VALUE.search(value):
            doc.problems.append(doc.problem(
                path, "this value looks like a secret; secrets must not be written in the "
                "config, name an environment variable instead"))


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


def _schema_error(doc: _Doc, err: jsonschema.ValidationError) -> Problem:
    """One schema error as a problem with its position and a one-line message."""
    path: KeyPath = tuple(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    v = err.validator
    inst: Any = err.instance
    want: Any = err.validator_value
    key = False
    # errorMessage: a text for the value's own shape (pattern, not, ...), or one per keyword
    custom = schema.get("errorMessage")
    if isinstance(custom, dict):
        custom = custom.get(v)
    elif v in ("additionalProperties", "required", "type", "enum", "const"):
        custom = None
    if v == "not" and want == {}:  # a key that must not be there
        key = True
    elif v == "not" and isinstance(want, dict) and want.get("required"):  # keys exclusive
        path, key = (*path, want["required"][-1]), True
    elif v == "dependentRequired":
        path = (*path, next(k for k in want if k in inst and any(d not in inst for d in want[k])))
    if isinstance(custom, str):
        value = repr(inst) if len(repr(inst)) <= 100 else repr(inst)[:97] + "..."
        msg = custom.replace("{value}", value)
    elif v == "additionalProperties":
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
    elif v == "pattern":
        msg = f"must match {want}"
    elif v in ("minItems", "minLength", "minProperties"):
        msg = "must not be empty" if want == 1 else (
            f"needs at least {want} entries")
    elif v == "minimum":
        msg = f"must be at least {want}"
    elif v == "exclusiveMinimum":
        msg = f"must be more than {want}"
    elif v == "uniqueItems":
        first, again = next((i, j) for j, item in enumerate(inst) for i in range(j)
                            if inst[i] == item)
        msg = f"duplicate entry (also {format_path((*path, first))})"
        path = (*path, again)
    else:
        msg = err.message
    return doc.problem(path, msg, key=key)


def validated(text: str, file: str, schema: str) -> _Doc:
    """``text`` composed with positions and checked against the shipped schema ``schema``
    (the problems found are on the document; the caller raises them with its own)."""
    doc = _compose(text, file)
    _check_schema(doc, schema)
    return doc


def _check_schema(doc: _Doc, schema: str = "promoter.schema.json") -> None:
    for err in _validator(schema).iter_errors(doc.data):
        best = jsonschema.exceptions.best_match([err])
        problem = _schema_error(doc, best)
        doc.problems.append(problem)
        if best.validator == "type" and problem.key:
            doc.mistyped.add(problem.key)


