"""``.promoter.yaml``: parsed with positions, validated, turned into frozen data.

:func:`load_config` reads the file; :func:`parse_config` does the rest on text. The steps:

1. compose the YAML (ruamel) into plain values and remember where every key and value sits;
2. refuse inline secrets (``token:``, ``password:``, values that look like tokens);
3. validate against the JSON Schema shipped as ``promoter/data/promoter.schema.json``;
4. semantic checks the schema cannot express (environment names, duplicates, regexes, semver
   ranges, template placeholders, paths that escape the repository);
5. build :class:`Config` with every default filled in.

Every error is one :class:`~promoter.errors.ConfigError` line
``FILE:LINE:COL: KEY.PATH: what is wrong`` (``images[2].policy.semver: ...``). Values of
fields that may hold secrets are never repeated in a message.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import math
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promoter import secrets
from promoter.edit.model import Kind
from promoter.errors import ConfigError, InputError
from promoter.policy import Order, TagPolicy
from promoter.refs import ImageRef
from promoter.versions import Range, UpdateType

CONFIG_NAMES = (".promoter.yaml", ".promoter.yml")
DEFAULT_AUTHOR = "promoter <promoter@noreply.invalid>"
DEFAULT_HOLD_LABEL = "promoter/hold"


# ---------------------------------------------------------------------------------------------
# data


class Auto(enum.Enum):
    """Which update types open a pull request without a ``/promote`` command."""

    NONE = "none"
    PATCH = "patch"
    MINOR = "minor"
    ALL = "all"


class ForgeType(enum.Enum):
    GITHUB = "github"
    GITLAB = "gitlab"
    LOCAL = "local"


class Group(enum.Enum):
    """One pull request per (environment, image), or one per environment."""

    IMAGE = "image"
    ENVIRONMENT = "environment"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileTarget:
    """A file whose references to the image the finders locate (``kind`` None: any finder)."""

    file: str
    kind: Kind | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyTarget:
    """An explicit Helm values key path to the scalar holding the tag."""

    file: str
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoverTarget:
    """Every file under these directories or globs (``kinds`` empty: every finder)."""

    paths: tuple[str, ...]
    kinds: tuple[Kind, ...] = ()


Target: TypeAlias = FileTarget | KeyTarget | DiscoverTarget


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    name: str
    repository: ImageRef  # no tag, no digest
    policy: TagPolicy = TagPolicy()
    platform: str | None = None  # os/arch[/variant] whose manifest counts (newest-build)
    source: str | None = None  # web URL of the source repository, for changelog links
    # (environment, targets) in environment order; environments not listed don't have the image
    targets: tuple[tuple[str, tuple[Target, ...]], ...] = ()
    discovered: bool = False  # no explicit targets: found through the environments' paths

    def targets_for(self, env: str) -> tuple[Target, ...]:
        for name, targets in self.targets:
            if name == env:
                return targets
        return ()

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.targets)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeWindow:
    """A one-off window (``start``..``end``) or a weekly one (``days`` ``start_time``..``end_time``
    in ``timezone``; an end before the start runs past midnight)."""

    start: datetime | None = None
    end: datetime | None = None
    days: tuple[int, ...] = ()  # 0 = Monday
    start_time: time = time(0, 0)
    end_time: time | None = None  # None: end of day
    timezone: str = "UTC"
    reason: str = ""

    def covers(self, when: datetime) -> bool:
        """Whether the aware datetime ``when`` falls in this window (end exclusive)."""
        if self.start is not None and self.end is not None:
            return self.start <= when < self.end
        local = when.astimezone(ZoneInfo(self.timezone))
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        end = self.end_time
        if end is None or end > self.start_time:
            return day in self.days and self.start_time <= t and (end is None or t < end)
        # overnight: from start_time on a listed day until end_time on the next day
        return (day in self.days and t >= self.start_time) or ((day - 1) % 7 in self.days
                                                               and t < end)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    soak: timedelta | None = None
    require_checks: tuple[str, ...] = ()
    auto: Auto = Auto.ALL
    min_approvals: int = 0
    freeze: tuple[FreezeWindow, ...] = ()
    hold_label: str = DEFAULT_HOLD_LABEL

    def frozen_at(self, when: datetime) -> FreezeWindow | None:
        return next((w for w in self.freeze if w.covers(when)), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Commenters:
    """Who may run comment commands for an environment; all empty: anyone with write access."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.teams or self.groups)


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    name: str
    branch: str  # the branch its files live on (forge.base-branch unless set)
    paths: tuple[str, ...] = ()
    track: bool = False
    gates: Gates = Gates()
    commenters: Commenters = Commenters()


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    host: str
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    insecure: bool = False
    ca_file: str | None = None  # relative to the repository root
    ca_file_env: str | None = None
    concurrency: int | None = None  # a fixed cap on requests in flight; None: adaptive
    requests_per_second: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubApp:
    id: int | None = None
    id_env: str | None = None
    private_key_env: str
    installation_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Forge:
    type: ForgeType = ForgeType.LOCAL
    url: str | None = None
    repository: str | None = None  # GitHub owner/name
    project: str | None = None  # GitLab path or numeric id
    base_branch: str = "main"
    token_env: str | None = None
    app: GitHubApp | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequests:
    branch: str = "promoter/{env}/{image}"
    title: str = "Promote {image} to {version} in {env}"
    body: str | None = None  # None: the built-in body
    labels: tuple[str, ...] = ("promoter",)
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: bool = False
    merge_method: str = "merge"
    group: Group = Group.IMAGE


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    author: Identity = Identity(name="promoter", email="promoter@noreply.invalid")
    message: str = "{title}"
    sign_off: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: str  # the config file as given
    root: str  # the repository root paths are relative to
    environments: tuple[Environment, ...]
    images: tuple[Image, ...]
    registries: tuple[Registry, ...] = ()
    forge: Forge = Forge()
    pull_requests: PullRequests = PullRequests()
    commit: Commit = Commit()

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise InputError(f"unknown environment {name!r}{_did_you_mean(name, self.env_names)}")

    def image(self, name: str) -> Image:
        for img in self.images:
            if img.name == name:
                return img
        raise InputError(f"unknown image {name!r}"
                         f"{_did_you_mean(name, [i.name for i in self.images])}")

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.environments)

    @property
    def tracking(self) -> tuple[Environment, ...]:
        """The environments that follow the registry."""
        return tuple(e for e in self.environments if e.track)

    def previous(self, env: str) -> Environment | None:
        """The environment before ``env`` in promotion order (None for the first)."""
        i = self.env_names.index(self.environment(env).name)
        return self.environments[i - 1] if i else None

    def steps(self) -> tuple[tuple[Environment, Environment], ...]:
        """(source, target) pairs in promotion order."""
        return tuple(zip(self.environments, self.environments[1:], strict=False))

    def registry(self, host: str) -> Registry | None:
        return next((r for r in self.registries if r.host == host), None)

    def shard(self, index: int, count: int) -> tuple[Image, ...]:
        """The images of shard ``index`` (0-based) of ``count``: stable under reordering."""
        if count < 1 or not 0 <= index < count:
            raise InputError(f"shard {index + 1}/{count}: need 1 <= I <= N")
        return tuple(i for i in self.images if _shard_of(i.name, count) == index)


def read_secret(environ: Mapping[str, str], name: str | None, *, key: str) -> str | None:
    """The value of the environment variable ``name`` that the setting ``key`` (e.g.
    ``forge.token-env``) names, registered with :mod:`promoter.secrets` so no message shows it.

    None when the setting is absent; :class:`InputError` when it names an unset variable.
    """
    if name is None:
        return None
    value = environ.get(name, "")
    if not value:
        raise InputError(f"{key} names the environment variable {name}, which is not set")
    secrets.register(value)
    return value


def _shard_of(name: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count


# ---------------------------------------------------------------------------------------------
# templates

#: placeholders by template; per-image ones exist only when pull requests are grouped by image
COMMON_FIELDS = ("env", "source_env", "base", "count", "images")
IMAGE_FIELDS = ("image", "version", "from", "to", "update")
BRANCH_FIELDS = ("env", "image", "base")


def template_fields(template: str) -> tuple[str, ...]:
    """The placeholder names of ``template``; ValueError when it is malformed."""
    names: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name) or spec or conversion:
            raise ValueError(f"placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not a plain {{name}}")
        names.append(name)
    return tuple(names)


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill ``template``'s placeholders from ``values`` (no attribute access, no formatting)."""
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(values[name]))
    return "".join(out)


def allowed_fields(which: str, group: Group) -> tuple[str, ...]:
    """Placeholders allowed in ``which`` (branch, title, body, message) under ``group``."""
    if which == "branch":
        return BRANCH_FIELDS if group is Group.IMAGE else ("env", "base")
    fields = COMMON_FIELDS + (IMAGE_FIELDS if group is Group.IMAGE else ())
    return fields + {"title": (), "body": ("table",), "message": ("title", "table")}[which]


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


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# semantic checks and building


def load_config(path: str | Path, *, root: str | Path | None = None) -> Config:
    """Read and validate ``path``; paths in it are relative to ``root`` (default: its folder)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e.__class__.__name__}") from None
    return parse_config(text, file=str(path), root=Path(root) if root is not None else p.parent)


def find_config(root: str | Path) -> Path:
    """``.promoter.yaml`` (or ``.yml``) at the root of the repository ``root``."""
    for name in CONFIG_NAMES:
        candidate = Path(root) / name
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{Path(root) / CONFIG_NAMES[0]}: no such file")


def parse_config(text: str, *, file: str = CONFIG_NAMES[0], root: Path | None = None) -> Config:
    """Validate ``text`` (the content of ``file``) and build the :class:`Config`.

    With ``root``, paths are also checked against the file system (symlinks leaving the
    repository are refused); without it only their spelling is checked.
    """
    doc = _compose(text, file)
    _check_no_secrets(doc)
    _check_schema(doc)
    return _Builder(doc, root).build()


# TagPolicy's complaint -> the key it is about
_POLICY_WORDS = (("semver range", "semver"), ("prerelease", "prerelease"),
                 ("max-update", "max-update"), ("order", "order"), ("min-age", "min-age"))
_GO_GROUP = re.compile(r"\(\?<(?![=!])")  # (?<version>...) as Go and JS write it
_UNSAFE_PATH = re.compile(r"\\|\x00")


class _Builder:
    def __init__(self, doc: _Doc, root: Path | None) -> None:
        self.doc = doc
        self.root = root
        self.data: dict[str, Any] = doc.data

    def err(self, path: KeyPath, message: str, *, key: bool = False) -> ConfigError:
        return self.doc.error(path, message, key=key)

    def build(self) -> Config:
        forge = self.forge()
        group = Group(self.data.get("pull-requests", {}).get("group", "image"))
        envs = self.environments(forge.base_branch)
        return Config(path=self.doc.file, root=str(self.root) if self.root else ".",
                      environments=envs, images=self.images(envs),
                      registries=self.registries(), forge=forge,
                      pull_requests=self.pull_requests(group), commit=self.commit(group))

    # -- paths ---------------------------------------------------------------------------------

    def path(self, at: KeyPath, text: str, *, glob: bool = False) -> str:
        pure = PurePosixPath(text)
        if _UNSAFE_PATH.search(text):
            raise self.err(at, "write paths with '/' only")
        if pure.is_absolute() or re.match(r"^[A-Za-z]:", text):
            raise self.err(at, f"{text!r} is absolute; paths are relative to the repository root")
        if ".." in pure.parts:
            raise self.err(at, f"{text!r} leaves the repository ('..')")
        if ".git" in pure.parts:
            raise self.err(at, f"{text!r} points into .git")
        norm = str(pure)
        if self.root is not None:
            literal = "/".join(pure.parts[:_first_glob_part(pure.parts)]) or "." if glob else norm
            root = self.root.resolve()
            resolved = (root / literal).resolve()
            if resolved != root and root not in resolved.parents:
                raise self.err(at, f"{text!r} leaves the repository through a symlink")
        return norm

    # -- environments --------------------------------------------------------------------------

    def environments(self, base: str) -> tuple[Environment, ...]:
        raw = self.data["environments"]
        items: list[dict[str, Any]] = [{"name": e} if isinstance(e, str) else e for e in raw]
        seen: dict[str, int] = {}
        any_track = any("track" in e for e in items)
        out = []
        for i, e in enumerate(items):
            at: KeyPath = ("environments", i)
            name = e["name"]
            if name in seen:
                raise self.err(at, f"duplicate environment {name!r} "
                               f"(also environments[{seen[name]}])")
            seen[name] = i
            branch = e.get("branch", base)
            self.check_ref((*at, "branch"), branch)
            paths = tuple(self.path((*at, "paths", j), p, glob=True)
                          for j, p in enumerate(e.get("paths", ())))
            track = bool(e.get("track", False)) if any_track else i == 0
            out.append(Environment(name=name, branch=branch, paths=paths, track=track,
                                   gates=self.gates((*at, "gates"), e.get("gates", {})),
                                   commenters=Commenters(**{
                                       k: tuple(v) for k, v in
                                       e.get("allowed-commenters", {}).items()})))
        return tuple(out)

    def check_ref(self, at: KeyPath, name: str) -> None:
        if not valid_branch_name(name):
            raise self.err(at, f"{name!r} is not a valid git branch name")

    def gates(self, at: KeyPath, g: dict[str, Any]) -> Gates:
        return Gates(
            soak=parse_duration(g["soak"]) if "soak" in g else None,
            require_checks=tuple(g.get("require-checks", ())),
            auto=Auto(g.get("auto", "all")),
            min_approvals=g.get("min-approvals", 0),
            freeze=tuple(self.freeze((*at, "freeze", i), w)
                         for i, w in enumerate(g.get("freeze", ()))),
            hold_label=g.get("hold-label", DEFAULT_HOLD_LABEL))

    def freeze(self, at: KeyPath, w: dict[str, Any]) -> FreezeWindow:
        if "start" in w:
            start, end = (datetime.fromisoformat(w[k].replace(" ", "T")) for k in ("start", "end"))
            if end <= start:
                raise self.err((*at, "end"), "must be after start")
            return FreezeWindow(start=start, end=end, reason=w.get("reason", ""))
        tz = w.get("timezone", "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.err((*at, "timezone"), f"unknown time zone {tz!r}") from None
        to = w.get("to")
        return FreezeWindow(days=tuple(_DAYS.index(d) for d in w["days"]),
                            start_time=_clock(w.get("from", "00:00")) or time(0, 0),
                            end_time=_clock(to) if to is not None else None,
                            timezone=tz, reason=w.get("reason", ""))

    # -- images --------------------------------------------------------------------------------

    def images(self, envs: tuple[Environment, ...]) -> tuple[Image, ...]:
        defaults = self.data.get("defaults", {}).get("policy", {})
        names: dict[str, int] = {}
        out = []
        env_names = [e.name for e in envs]
        for i, raw in enumerate(self.data["images"]):
            at: KeyPath = ("images", i)
            repo = self.repository((*at, "repository"), raw["repository"])
            name = raw.get("name") or repo.repository.rsplit("/", 1)[-1]
            if name in names:
                raise self.err(at, f"duplicate image {name!r} (also images[{names[name]}]); "
                               "give one a distinct name")
            names[name] = i
            policy, platform = self.policy(at, raw.get("policy", {}), defaults)
            if "targets" in raw:
                targets = []
                for env, items in raw["targets"].items():
                    if env not in env_names:
                        raise self.err((*at, "targets", env), f"unknown environment {env!r}"
                                       f"{_did_you_mean(env, env_names)}", key=True)
                    targets.append((env, tuple(self.target((*at, "targets", env, j), t)
                                               for j, t in enumerate(items))))
                targets.sort(key=lambda t: env_names.index(t[0]))
            else:
                bare = next((j for j, e in enumerate(envs) if not e.paths), None)
                if bare is not None:
                    raise self.err(at, f"no targets, and environment {envs[bare].name!r} has no "
                                   f"paths to discover the image in; add targets or "
                                   f"environments[{bare}].paths")
                targets = [(e.name, (DiscoverTarget(paths=e.paths),)) for e in envs]
            out.append(Image(name=name, repository=repo, policy=policy, platform=platform,
                             source=raw.get("source"),
                             targets=tuple(targets), discovered="targets" not in raw))
        return tuple(out)

    def repository(self, at: KeyPath, text: str) -> ImageRef:
        try:
            ref = ImageRef.parse(text)
        except InputError:
            raise self.err(at, f"{text!r} is not an image repository") from None
        if ref.tag or ref.digest:
            raise self.err(at, "give the repository without tag or digest; the policy chooses "
                           "the tag")
        return ref

    def target(self, at: KeyPath, t: dict[str, Any]) -> Target:
        if "discover" in t:
            return DiscoverTarget(
                paths=tuple(self.path((*at, "discover", i), p, glob=True)
                            for i, p in enumerate(t["discover"])),
                kinds=tuple(Kind(k) for k in t.get("kinds", ())))
        file = self.path((*at, "file"), t["file"])
        if "key" in t:
            return KeyTarget(file=file, key=tuple(t["key"].split(".")))
        return FileTarget(file=file, kind=Kind(t["kind"]) if "kind" in t else None)

    def policy(self, at: KeyPath, own: dict[str, Any], defaults: dict[str, Any]
               ) -> tuple[TagPolicy, str | None]:
        """The image's policy over ``defaults.policy``, checked by :class:`TagPolicy` itself."""
        merged = {**defaults, **own}

        def where(key: str) -> KeyPath:
            return (*at, "policy", key) if key in own else ("defaults", "policy", key)

        for key, check in (("semver", self.semver_range), ("allow", self.allow_regex)):
            if key in merged:
                check(where(key), merged[key])
        for i, pattern in enumerate(merged.get("ignore", ())):
            if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
                self.regex((*where("ignore"), i), pattern[1:-1], groups=())
        try:
            policy = TagPolicy(
                strategy=merged.get("strategy", "semver"), range=merged.get("semver"),
                allow=merged.get("allow"), ignore=tuple(merged.get("ignore", ())),
                prerelease=merged.get("prerelease", False),
                max_update=UpdateType(merged["max-update"]) if "max-update" in merged else None,
                order=Order(merged.get("order", "asc")),
                min_age=parse_duration(merged["min-age"]) if "min-age" in merged else None)
        except InputError as e:  # combinations: semver options on another strategy, ...
            culprit = next((key for word, key in _POLICY_WORDS if word in str(e)), "strategy")
            raise self.err(where(culprit), str(e)) from None
        return policy, merged.get("platform")

    def semver_range(self, at: KeyPath, text: str) -> None:
        try:
            Range.parse(text)
        except InputError as e:
            raise self.err(at, str(e)) from None

    def allow_regex(self, at: KeyPath, pattern: str) -> None:
        self.regex(at, _GO_GROUP.sub("(?P<", pattern), groups=("version",))

    def regex(self, at: KeyPath, pattern: str, *, groups: tuple[str, ...]) -> None:
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise self.err(at, f"invalid regular expression: {e}") from None
        extra = sorted(set(compiled.groupindex) - set(groups))
        if extra:
            allowed = f"only (?P<{groups[0]}>...)" if groups else "no named groups"
            raise self.err(at, f"unknown named group {extra[0]!r}; {allowed} is allowed")

    # -- registries, forge -------------------------------------------------------------------

    def registries(self) -> tuple[Registry, ...]:
        out: list[Registry] = []
        for i, r in enumerate(self.data.get("registries", ())):
            at: KeyPath = ("registries", i)
            if any(o.host == r["host"] for o in out):
                raise self.err((*at, "host"), f"duplicate registry {r['host']!r}")
            if "password-env" in r and "username-env" not in r:
                raise self.err((*at, "password-env"), "needs username-env as well")
            self.exclusive(at, r, ("password-env", "token-env"))
            self.exclusive(at, r, ("ca-file", "ca-file-env"))
            ca = self.path((*at, "ca-file"), r["ca-file"]) if "ca-file" in r else None
            rate = r.get("requests-per-second")
            if rate is not None and not math.isfinite(rate):  # .inf and .nan pass the schema
                raise self.err((*at, "requests-per-second"), "must be a finite number")
            concurrency = r.get("concurrency")  # the schema lets 2.0 pass as an integer
            out.append(Registry(host=r["host"], username_env=r.get("username-env"),
                                password_env=r.get("password-env"), token_env=r.get("token-env"),
                                insecure=r.get("insecure", False), ca_file=ca,
                                ca_file_env=r.get("ca-file-env"),
                                concurrency=None if concurrency is None else int(concurrency),
                                requests_per_second=None if rate is None else float(rate)))
        return tuple(out)

    def exclusive(self, at: KeyPath, m: Mapping[str, Any], keys: tuple[str, str]) -> None:
        if all(k in m for k in keys):
            raise self.err((*at, keys[1]), f"give either {keys[0]} or {keys[1]}, not both",
                           key=True)

    def forge(self) -> Forge:
        f: dict[str, Any] = self.data.get("forge", {})
        at: KeyPath = ("forge",)
        kind = ForgeType(f.get("type", "local"))
        need = {ForgeType.GITHUB: "repository", ForgeType.GITLAB: "project"}.get(kind)
        if need and need not in f:
            raise self.err(at, f"forge type {kind.value} needs {need}")
        for key in ("repository", "project", "url", "token-env", "app"):
            if key in f and key != need and (key in ("repository", "project") or
                                            kind is ForgeType.LOCAL):
                raise self.err((*at, key), f"does not apply to forge type {kind.value}", key=True)
        app = None
        if "app" in f:
            a = f["app"]
            if kind is not ForgeType.GITHUB:
                raise self.err((*at, "app"), "GitHub Apps need forge type github", key=True)
            self.exclusive(at, f, ("token-env", "app"))
            if ("id" in a) == ("id-env" in a):
                raise self.err((*at, "app"), "give exactly one of id and id-env")
            app = GitHubApp(id=a.get("id"), id_env=a.get("id-env"),
                            private_key_env=a["private-key-env"],
                            installation_id=a.get("installation-id"))
        base = f.get("base-branch", "main")
        self.check_ref((*at, "base-branch"), base)
        project = f.get("project")
        return Forge(type=kind, url=f.get("url"), repository=f.get("repository"),
                     project=str(project) if project is not None else None, base_branch=base,
                     token_env=f.get("token-env"), app=app)

    # -- pull requests, commits ----------------------------------------------------------------

    def template(self, at: KeyPath, text: str, which: str, group: Group) -> str:
        try:
            names = template_fields(text)
        except ValueError as e:
            msg = str(e) if "placeholder" in str(e) else (
                f"{e}; write {{{{ and }}}} for literal braces")
            raise self.err(at, msg) from None
        allowed = allowed_fields(which, group)
        for name in names:
            if name not in allowed:
                hint = ""
                if which == "branch" and name in IMAGE_FIELDS:
                    hint = "; a branch must not change when a newer version supersedes the PR"
                elif name in IMAGE_FIELDS + BRANCH_FIELDS:
                    hint = " when pull requests are grouped by environment"
                raise self.err(at, f"unknown placeholder {{{name}}}{hint}; "
                               f"use {', '.join('{' + a + '}' for a in allowed)}")
        if which == "branch":
            required = ("env", "image") if group is Group.IMAGE else ("env",)
            for name in required:
                if name not in names:
                    raise self.err(at, f"must contain {{{name}}} so that each pull request "
                                   "has its own branch")
            self.check_ref(at, render_template(text, dict.fromkeys(names, "x")))
        return text

    def pull_requests(self, group: Group) -> PullRequests:
        p: dict[str, Any] = self.data.get("pull-requests", {})
        at: KeyPath = ("pull-requests",)
        default = PullRequests()
        if group is Group.ENVIRONMENT:
            default = PullRequests(branch="promoter/{env}", title="Promote {count} images to {env}")

        def tmpl(key: str, fallback: str) -> str:
            return self.template((*at, key), p.get(key, fallback), key, group)

        lists: dict[str, tuple[str, ...]] = {
            k.replace("-", "_"): tuple(p[k]) for k in
            ("labels", "reviewers", "team-reviewers", "assignees") if k in p}
        return PullRequests(
            branch=tmpl("branch", default.branch), title=tmpl("title", default.title),
            body=self.template((*at, "body"), p["body"], "body", group) if "body" in p else None,
            draft=p.get("draft", False), auto_merge=p.get("auto-merge", False),
            merge_method=p.get("merge-method", "merge"), group=group,
            **{"labels": default.labels, **lists})

    def commit(self, group: Group) -> Commit:
        c: dict[str, Any] = self.data.get("commit", {})
        m = re.fullmatch(r"(?P<name>.+?) <(?P<email>[^<>]+)>", c.get("author", DEFAULT_AUTHOR))
        assert m is not None  # the schema's pattern
        return Commit(author=Identity(name=m["name"], email=m["email"]),
                      message=self.template(("commit", "message"), c.get("message", "{title}"),
                                            "message", group),
                      sign_off=c.get("sign-off", False))


def _first_glob_part(parts: tuple[str, ...]) -> int:
    return next((i for i, p in enumerate(parts) if re.search(r"[*?\[]", p)), len(parts))


def _clock(text: str) -> time | None:
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|\.lock(/|$)|(^|/)\.")


def valid_branch_name(name: str) -> bool:
    """Whether git accepts ``refs/heads/<name>`` (``git check-ref-format``'s rules) and the
    name does not start with '-' (an option to any command line it reaches)."""
    return bool(name) and not name.startswith("-") and not _BAD_REF.search(name)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h``, ``1d12h`` -> timedelta (the schema checked the spelling)."""
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])",
                                                                           text)))
