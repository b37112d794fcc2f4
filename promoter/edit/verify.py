"""Prove an edit: the re-parsed text must equal the original tree plus the intended change.

Trees are compared as data (:func:`data_of`): scalars as ``(tag, value)`` with their resolved
tag, mappings as ordered ``(key, value)`` lists, sequences as lists, every document of the file.
The expected tree is the original one with

- each edited scalar replaced by ``(str, new value)``; the scalar is found by node identity, so
  a value shared through an alias changes at every alias too (which is what YAML means), and
- each inserted key appended to its mapping, each inserted entry appended to its sequence.

Anything else that differs (a comment that swallowed a value, a quote that changed a type, a key
that moved) raises :class:`EditError` naming the file and the first differing path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promoter.edit import yamlpos
from promoter.errors import EditError, InputError

STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True, kw_only=True)
class Insertion:
    """New data appended under ``path`` of ``document``: a key (mapping) or an item (sequence)."""

    document: int
    path: yamlpos.YamlPath
    key: str | None  # None: append ``value`` to a sequence
    value: Any  # data as :func:`plain` gives it: str, list of pairs, list


def data_of(node: yamlpos.Node, replace: Mapping[int, str] | None = None) -> Any:
    """A node as comparable data; ``replace`` maps ``id(scalar)`` to its new string value."""
    rep = replace or {}

    def conv(n: yamlpos.Node) -> Any:
        cls = type(n)
        if cls is yamlpos.ScalarNode:
            new = rep.get(id(n)) if rep else None
            return (n.tag, n.value) if new is None else (STR_TAG, new)
        if cls is yamlpos.MappingNode:
            return [[conv(k), conv(v)] for k, v in n.value]
        if cls is yamlpos.SequenceNode:
            return [conv(v) for v in n.value]
        raise TypeError(cls.__name__)  # pragma: no cover

    return conv(node)


def plain(value: Any) -> Any:
    """Python data (str, dict, list) as :func:`data_of` would give it for string scalars."""
    if isinstance(value, dict):
        return [[(STR_TAG, k), plain(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [plain(v) for v in value]
    return (STR_TAG, str(value))


def _at(tree: Any, path: yamlpos.YamlPath) -> Any:
    for key in path:
        if isinstance(key, int):
            tree = tree[key]
        else:
            tree = next(v for k, v in tree if k[1] == key)
    return tree


def expected(original: yamlpos.YamlFile, replace: Mapping[int, str],
             insertions: Sequence[Insertion] = ()) -> list[Any]:
    """The data the edited text must parse to."""
    docs = [data_of(d, replace) for d in original.documents]
    for ins in insertions:
        target = _at(docs[ins.document], ins.path) if ins.path else docs[ins.document]
        if ins.key is None:
            target.append(plain(ins.value))
        else:
            target.append([(STR_TAG, ins.key), plain(ins.value)])
    return docs


def _first_difference(want: Any, got: Any, path: tuple[str | int, ...] = ()) -> str:
    """The path (``a/b/0``) where two data trees first differ."""
    if isinstance(want, list) and isinstance(got, list):
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            if w == g:
                continue
            if _is_pair(w) and _is_pair(g):  # a mapping entry: name it by its key
                key = str(w[0][1])
                return _first_difference(w[1], g[1], (*path, key)) if w[0] == g[0] else \
                    "/".join(map(str, (*path, key)))
            return _first_difference(w, g, (*path, i))
        if len(want) != len(got):
            return "/".join(map(str, path)) + f" ({len(got)} entries instead of {len(want)})"
    return "/".join(map(str, path)) or "/"


def _is_pair(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 2 and isinstance(x[0], tuple)


def verify(original: yamlpos.YamlFile, new_text: str, replace: Mapping[int, str],
           insertions: Sequence[Insertion] = ()) -> yamlpos.YamlFile:
    """Parse ``new_text`` and compare; return the new file or raise :class:`EditError`."""
    try:
        new = yamlpos.parse_yaml(new_text, original.path, checks=False)
    except InputError as e:
        raise EditError(f"{original.path}: the edited text is not valid YAML ({e}); "
                        "nothing written") from None
    want = expected(original, replace, insertions)
    got = [data_of(d) for d in new.documents]
    if got != want:
        if len(got) != len(want):
            where = f"{len(got)} documents instead of {len(want)}"
        else:
            doc = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
            where = f"document {doc + 1} at {_first_difference(want[doc], got[doc])}"
        raise EditError(f"{original.path}: the edit would change more than the image value "
                        f"({where}); nothing written")
    return new
