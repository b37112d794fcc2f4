"""YAML composed with positions: the seam every finder builds on.

A :class:`YamlFile` holds a file's decoded text and its documents as *composed nodes* (no Python
objects are constructed): ``ScalarNode`` / ``MappingNode`` / ``SequenceNode`` with ``.value``,
``.tag`` (the resolved tag), ``.style`` and ``.start_mark`` / ``.end_mark`` (``.index``,
``.line``, ``.column``). An alias yields the very node object of its anchor, so a node reached
twice by :func:`walk` is shared.

Backend: PyYAML's composer, libyaml's ``CSafeLoader`` when it is compiled (about 40 times
faster than ruamel.yaml's pure-Python composer on the corpus) and PyYAML's ``SafeLoader``
otherwise. Both give the same node classes, which this module re-exports; import them from here.

Offsets. ``YamlFile.text`` is the text exactly as decoded, **with** a leading BOM if the file had
one, so that splicing into it and encoding gives the file's bytes back. The parser sees the text
without the BOM, so a raw ``mark.index`` is off by ``YamlFile.bom`` characters: always go through
:func:`span_of` or :meth:`YamlFile.offset`, never ``mark.index`` directly. Lines and columns in a
:class:`~promoter.edit.model.Span` are 1-based and computed from the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promoter.edit.model import Kind, Site, Span
from promoter.errors import InputError
from promoter.refs import ImageRef, is_valid_tag

__all__ = [
    "MappingNode", "Node", "ScalarNode", "SequenceNode", "YamlFile", "compose_all",
    "iter_mapping", "mapping_get", "parse_yaml", "scalar_value", "site_from_parts",
    "site_from_whole", "span_of", "split_written", "walk",
]

_BASE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAGS: dict[tuple[str, bool], str] = {}  # (plain value, implicit) -> resolved tag
_TAGS_MAX = 50_000


class _Loader(_BASE_LOADER):  # type: ignore[misc]
    """The safe loader with a memo for plain-scalar tag resolution (keys repeat a lot)."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            key = (value, implicit[0])
            tag = _TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_TAGS) < _TAGS_MAX:
                    _TAGS[key] = tag
            return tag
        return str(super().resolve(kind, value, implicit))

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers are registered: skip the per-node bookkeeping."""

    def ascend_resolver(self) -> None:
        """See :meth:`descend_resolver`."""


_NEWLINE = re.compile(r"\n")
_PROPERTY = re.compile(r"[&!][^\s,\[\]{}]*[ \t\r\n]*")  # an anchor or tag before a value
BOM = "\ufeff"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
_LOOSE_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*:[0-9a-fA-F]+$")  # short ones too

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlFile:
    """A parsed YAML file. ``documents`` is empty for an empty file (or one of comments)."""

    path: str
    text: str
    documents: tuple[Node, ...]
    bom: int  # 1 when text starts with a BOM (and marks are off by one), else 0
    line_starts: tuple[int, ...]  # offset of each line's first character

    def offset(self, mark: yaml.Mark) -> int:
        """The offset in :attr:`text` of a parser mark."""
        return int(mark.index) + self.bom

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an offset in :attr:`text`."""
        i = bisect.bisect_right(self.line_starts, offset) - 1
        return i + 1, offset - self.line_starts[i] + 1

    def where(self, offset: int) -> str:
        """``path:line:col`` of an offset, for messages."""
        line, col = self.line_col(offset)
        return f"{self.path}:{line}:{col}"


def compose_all(text: str) -> tuple[Node, ...]:
    """Compose every document of ``text`` (BOM already removed); raise yaml.YAMLError."""
    loader = _Loader(text)
    try:
        docs: list[Node] = []
        while loader.check_node():
            docs.append(loader.get_node())
        return tuple(docs)
    finally:
        loader.dispose()


def parse_yaml(text: str, path: str, *, checks: bool = True) -> YamlFile:
    """Compose ``text``; raise :class:`InputError` ``path:line:col: message`` when invalid.

    ``checks=False`` skips the refusals of duplicate keys and alias bombs, for the verifier's
    re-parse of an edit of a checked file: an edit writes only validated tags, digests and
    names, rendered (quoted where needed) as string scalars, so it can add neither a key nor an
    alias, and any other difference fails the comparison."""
    bom = 1 if text.startswith(BOM) else 0
    starts = [0]
    starts.extend(m.end() for m in _NEWLINE.finditer(text))
    try:
        docs = compose_all(text[bom:])
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(str(p) for p in (e.context, e.problem) if p)
        if mark is not None:
            raise InputError(f"{path}:{mark.line + 1}:{mark.column + 1}: invalid YAML: "
                             f"{problem}") from None
        raise InputError(f"{path}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None
    yf = YamlFile(path=path, text=text, documents=docs, bom=bom, line_starts=tuple(starts))
    if checks:
        _refuse_duplicate_keys(yf)
        _refuse_alias_bombs(yf)
    return yf


# Finders walk aliases as if they were copies: a few nested aliases of aliases ("billion
# laughs") make a 400-byte file expand to 10^9 values. Anchors that repeat a block a few times
# stay far below this; a bomb is refused at once, before any finder runs.
MAX_EXPANDED = 100_000
_CAP = 10**12


def expanded_size(documents: tuple[Node, ...]) -> tuple[int, int]:
    """``(expanded, distinct)``: how many nodes a walk that expands every alias visits (a
    recursive alias counts once; counted up to 10^12) and how many distinct nodes there are.
    Linear in the number of distinct nodes."""
    sizes: dict[int, int] = {}
    total = 0
    for doc in documents:
        stack: list[tuple[Node, bool]] = [(doc, False)]
        open_: set[int] = set()
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                open_.discard(key)
                kids = _children(node)
                sizes[key] = min(_CAP, 1 + sum(sizes.get(id(k), 1) for k in kids))
                continue
            if key in sizes or key in open_:
                continue
            open_.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in _children(node) if id(k) not in sizes)
        total = min(_CAP, total + sizes[id(doc)])
    return total, len(sizes)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


# an "&" where a node's properties may start, then a name character: PyYAML (libyaml and the
# pure scanner alike) reads anchor names of [0-9A-Za-z_-] only and rejects any other, so a shell
# "&&" in a script block needs no count
_ANCHOR = re.compile(r"(?:^|[\s\[{,:?])&[0-9A-Za-z_-]")


def _refuse_alias_bombs(yf: YamlFile) -> None:
    """Refuse a file whose aliases expand to more than :data:`MAX_EXPANDED` values and twice
    its distinct values (work stays linear in the file's size)."""
    text = yf.text
    if "*" not in text or "&" not in text or _ANCHOR.search(text) is None:
        return  # without an anchor no alias can repeat anything
    total = 0
    for doc in yf.documents:
        expanded, distinct = expanded_size((doc,))
        total += expanded
        limit = max(MAX_EXPANDED, 2 * distinct)
        if total > limit:
            raise InputError(f"{yf.where(yf.offset(doc.start_mark))}: invalid YAML: aliases "
                             f"expand to more than {limit} values (an alias bomb?); refusing "
                             "to read it")


def _refuse_duplicate_keys(yf: YamlFile) -> None:
    """Duplicate keys are an error for go-yaml, Helm and YAML 1.2 (PyYAML takes the last);
    which one would be edited is ambiguous, so they are refused here: ``path:line:col``."""
    stack: list[Node] = list(yf.documents)
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.tag != MERGE_TAG:
                    if k.value in keys:
                        line, col = yf.line_col(yf.offset(k.start_mark))
                        raise InputError(f"{yf.path}:{line}:{col}: invalid YAML: duplicate key "
                                         f"{k.value!r}")
                    keys.add(k.value)
                if not isinstance(v, ScalarNode):
                    stack.append(v)
        elif isinstance(node, SequenceNode):
            stack.extend(n for n in node.value if not isinstance(n, ScalarNode))


def value_start(node: Node, yf: YamlFile) -> int:
    """Offset of a node's value, after any ``&anchor`` / ``!tag`` properties."""
    start = yf.offset(node.start_mark)
    text = yf.text
    while start < len(text) and text[start] in "&!":
        m = _PROPERTY.match(text, start)
        if m is None:  # pragma: no cover - the parser accepted it, so it matches
            break
        start = m.end()
    return start


def anchor_of(node: Node, yf: YamlFile) -> str | None:
    """The ``&name`` written on a node, if any (PyYAML's nodes do not keep it)."""
    start = yf.offset(node.start_mark)
    text = yf.text
    while start < len(text) and text[start] in "&!":
        m = _PROPERTY.match(text, start)
        if m is None:  # pragma: no cover
            break
        if text[start] == "&":
            return m.group().rstrip()[1:]
        start = m.end()
    return None


def style_of(node: Node) -> str:
    """``""`` plain, ``"'"``, ``'"'``, ``"|"`` or ``">"``."""
    return str(getattr(node, "style", None) or "")


def span_of(node: Node, yf: YamlFile) -> Span:
    """The exact characters of a scalar's value (quotes included, properties excluded)."""
    start = value_start(node, yf)
    end = yf.offset(node.end_mark)
    line, col = yf.line_col(start)
    return Span(start=start, end=end, line=line, column=col, style=style_of(node))


def scalar_value(node: Node | None) -> str | None:
    """A scalar's value (always a string), or ``None`` for anything else."""
    if isinstance(node, ScalarNode):
        return str(node.value)
    return None


def is_null(node: Node | None) -> bool:
    return node is None or node.tag == "tag:yaml.org,2002:null"


def iter_mapping(node: Node | None) -> Iterator[tuple[str, Node, Node]]:
    """``(key, key_node, value_node)`` of a mapping's scalar keys, in file order."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                yield str(k.value), k, v


def mapping_get(node: Node | None, key: str) -> Node | None:
    """The value of ``key`` in a mapping (the first, if duplicated), or ``None``."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def walk(node: Node, path: YamlPath = ()) -> Iterator[tuple[YamlPath, Node]]:
    """Every node under ``node`` (itself first) with its path, depth first, in file order.

    A node reached through an alias is yielded again at the alias's path, but its children are
    not walked twice along one branch (recursive aliases end there).
    """
    stack: list[tuple[YamlPath, Node, frozenset[int]]] = [(path, node, frozenset())]
    while stack:
        p, n, seen = stack.pop()
        yield p, n
        if id(n) in seen:
            continue
        inner = seen | {id(n)}
        if isinstance(n, MappingNode):
            kids = [(p + (str(k.value) if isinstance(k, ScalarNode) else i,), v)
                    for i, (k, v) in enumerate(n.value)]
        elif isinstance(n, SequenceNode):
            kids = [(p + (i,), v) for i, v in enumerate(n.value)]
        else:
            continue
        stack.extend((kp, kn, inner) for kp, kn in reversed(kids))


# ---- building Sites ---------------------------------------------------------------------------


def split_written(ref: str) -> tuple[str, str | None, str | None]:
    """Split ``name[:tag][@digest]`` as written into its three parts (no normalisation)."""
    name, _, digest = ref.partition("@")
    colon = name.rfind(":")
    tag = None
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, (digest or None)


def site_from_whole(yf: YamlFile, kind: Kind, node: Node, *, path: YamlPath = (),
                    document: int = 0) -> Site | None:
    """A Site for a scalar holding ``name[:tag][@digest]``; None when it is not a reference."""
    value = scalar_value(node)
    if value is None or node.tag != STR_TAG or not value.strip():
        return None
    ref = ImageRef.try_parse(value)
    if ref is None:
        return None
    name, _, _ = split_written(value.strip())
    return Site(file=yf.path, kind=kind, name=name, ref=ref, whole=span_of(node, yf),
                yaml_path=path, document=document)


def site_from_parts(yf: YamlFile, kind: Kind, *, name: str, name_node: Node | None = None,
                    tag_node: Node | None = None, digest_node: Node | None = None,
                    at_node: Node | None = None, path: YamlPath = (),
                    document: int = 0) -> Site | None:
    """A Site for a name with separate tag/digest scalars; None when the parts are not valid.

    ``name`` is the image as the file names it (``registry/repository`` joined by the caller);
    a null or empty tag/digest counts as absent but keeps its span, so it can be set.
    """
    ref = ImageRef.try_parse(name) or ImageRef.try_parse(name.lower())  # "ghcr.io/OWNER/app"
    if ref is None:
        return None
    ref = ref.with_tag(None).with_digest(None)  # kustomize may name "tor:latest"
    tag = _part(tag_node)
    digest = _part(digest_node)
    if tag is False or digest is False:
        return None
    if isinstance(tag, str) and "@" in tag and digest is None:  # "v1.2@sha256:..." in one
        tag, digest = tag.split("@", 1)
        digest_node = tag_node
    if isinstance(tag, str):
        if not is_valid_tag(tag):
            return None
        ref = ref.with_tag(tag)
    if isinstance(digest, str):
        if not _LOOSE_DIGEST.match(digest):
            return None
        ref = ref.with_digest(digest)
    return Site(
        file=yf.path, kind=kind, name=name, ref=ref,
        tag=span_of(tag_node, yf) if tag_node is not None else None,
        digest=span_of(digest_node, yf) if digest_node is not None else None,
        name_span=span_of(name_node, yf) if isinstance(name_node, ScalarNode) else None,
        at=span_of(at_node, yf) if isinstance(at_node, ScalarNode) else None,
        yaml_path=path, document=document,
    )


def _part(node: Node | None) -> str | None | bool:
    """A tag/digest scalar's text; None when absent/null/empty; False when not a scalar."""
    if node is None or is_null(node):
        return None
    if not isinstance(node, ScalarNode) or node.style in ("|", ">"):
        return False
    value = str(node.value)
    return value or None
