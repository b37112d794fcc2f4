"""New keys and new entries, written in the file's own style (the inserting half of splice).

- :func:`insert_key` appends ``key: value`` to a mapping: after its last line at the indent of
  its first key (block), or before its ``}`` after ``, `` (flow); the value is quoted like the
  same key of its siblings.
- :func:`add_kustomize_entry` appends an ``images:`` entry as ``kustomize edit set image``
  would: after the last entry with the same dash column and key indent, as a flow mapping when
  the entries are flow mappings, inside ``[...]`` for a flow list, and as a new ``images:`` key
  at the end of the document (sequence indent taken from its other lists) when there is none.

Line endings follow the file (CRLF stays CRLF) and a file without a final newline keeps none.
Each returns :class:`Planned` edits with the :class:`Insertion` that verify must expect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from promoter.edit import yamlpos
from promoter.edit.splice import Edit, render
from promoter.edit.verify import Insertion
from promoter.errors import EditError

_EOL = re.compile(r"\r?\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """The character edits of some changes, what verify should expect, and notes for people."""

    edits: tuple[Edit, ...] = ()
    replace: tuple[tuple[int, str], ...] = ()  # (id(scalar node), new value)
    insertions: tuple[Insertion, ...] = ()
    notes: tuple[str, ...] = ()


def node_at(root: yamlpos.Node, path: yamlpos.YamlPath) -> yamlpos.Node | None:
    node: yamlpos.Node | None = root
    for key in path:
        if isinstance(key, int):
            node = (node.value[key]
                    if isinstance(node, yamlpos.SequenceNode) and key < len(node.value) else None)
        else:
            node = yamlpos.mapping_get(node, key)
        if node is None:
            return None
    return node


def _last_end(node: yamlpos.Node, yf: yamlpos.YamlFile) -> int:
    """Offset just after the last scalar written inside ``node`` (block nodes overshoot)."""
    end = 0
    for _, n in yamlpos.walk(node):
        if isinstance(n, yamlpos.ScalarNode):
            end = max(end, yf.offset(n.end_mark))
    return end


def _line_after(yf: yamlpos.YamlFile, offset: int) -> tuple[int, str, bool]:
    """(offset of the next line's start, the line ending there, whether the text ended)."""
    text = yf.text
    if offset > 0 and text[offset - 1] == "\n":  # a block scalar ends at a line start
        nl = offset - 1
    else:
        nl = text.find("\n", offset)
    if nl == -1:
        m = _EOL.search(text)
        return len(text), (m.group() if m else "\n"), True
    return nl + 1, ("\r\n" if nl > 0 and text[nl - 1] == "\r" else "\n"), False


def _column(yf: yamlpos.YamlFile, node: yamlpos.Node) -> int:
    return yf.line_col(yf.offset(node.start_mark))[1] - 1


def sibling_style(items: Sequence[yamlpos.Node], key: str) -> str:
    for item in items:
        value = yamlpos.mapping_get(item, key)
        if isinstance(value, yamlpos.ScalarNode) and value.style in ("'", '"'):
            return str(value.style)
    return ""


def _block_lines(yf: yamlpos.YamlFile, after: int, lines: Sequence[str]) -> Edit:
    at, eol, ended = _line_after(yf, after)
    if ended:
        return Edit(at, at, "".join(eol + line for line in lines))
    return Edit(at, at, "".join(line + eol for line in lines))


def insert_key(yf: yamlpos.YamlFile, mapping: yamlpos.MappingNode, key: str, value: str,
               style: str) -> Edit:
    """An edit adding ``key: value`` as the last key of ``mapping``, in its style."""
    rendered = render(value, style)
    if mapping.flow_style:
        close = yf.offset(mapping.end_mark) - 1
        j = close
        while yf.text[j - 1] in " \t":
            j -= 1
        sep = ", " if mapping.value else ""
        return Edit(j, j, f"{sep}{key}: {rendered}")
    if not mapping.value:
        raise EditError(f"{yf.where(yf.offset(mapping.start_mark))}: cannot add {key} to an "
                        "empty block mapping")
    indent = " " * _column(yf, mapping.value[0][0])
    return _block_lines(yf, _last_end(mapping, yf), [f"{indent}{key}: {rendered}"])


def _entry_pairs(name: str, tag: str | None, digest: str | None,
                 new_name: str | None) -> dict[str, str]:
    pairs = {"name": name}
    for key, value in (("newName", new_name), ("newTag", tag), ("digest", digest)):
        if value:
            pairs[key] = value
    return pairs


def add_kustomize_entry(yf: yamlpos.YamlFile, document: int, images_path: yamlpos.YamlPath, *,
                        name: str, tag: str | None, digest: str | None,
                        new_name: str | None) -> Planned:
    """Add an ``images:`` entry, as ``kustomize edit set image`` does, in the file's style."""
    pairs = _entry_pairs(name, tag, digest, new_name)
    doc = yf.documents[document]
    images = node_at(doc, images_path)
    if isinstance(images, yamlpos.SequenceNode):
        styles = {k: sibling_style(images.value, k) for k in pairs}
        ins = Insertion(document=document, path=images_path, key=None, value=pairs)
        if images.flow_style:
            close = yf.offset(images.end_mark) - 1
            body = ", ".join(f"{k}: {render(v, styles[k])}" for k, v in pairs.items())
            sep = ", " if images.value else ""
            return Planned(edits=(Edit(close, close, f"{sep}{{{body}}}"),), insertions=(ins,))
        if not images.value:  # pragma: no cover - an empty block sequence cannot be written
            raise EditError(f"{yf.path}: empty images list")
        first = images.value[0]
        dash = " " * _column(yf, images)
        if isinstance(first, yamlpos.MappingNode) and first.flow_style:  # "- {name: a, newTag: b}"
            opening = yf.offset(first.start_mark)
            pad = " " if yf.text[opening + 1:opening + 2] == " " else ""
            body = ", ".join(f"{k}: {render(v, styles[k])}" for k, v in pairs.items())
            return Planned(edits=(_block_lines(yf, _last_end(images, yf),
                                               [f"{dash}- {{{pad}{body}{pad}}}"]),),
                           insertions=(ins,))
        key_col = _column(yf, first.value[0][0]) if isinstance(first, yamlpos.MappingNode) and \
            first.value else len(dash) + 2
        inner = " " * key_col
        lines = [f"{dash}-{' ' * (key_col - len(dash) - 1)}{k}: {render(v, styles[k])}"
                 if i == 0 else f"{inner}{k}: {render(v, styles[k])}"
                 for i, (k, v) in enumerate(pairs.items())]
        return Planned(edits=(_block_lines(yf, _last_end(images, yf), lines),),
                       insertions=(ins,))
    if images is not None or len(images_path) != 1 or document != len(yf.documents) - 1:
        raise EditError(f"{yf.path}: cannot add an images entry here (images: is not a list, "
                        "or the file has several documents)")
    seq_indent = _sequence_indent(yf, doc)
    entry = [f"{seq_indent}- name: {render(name, '')}"] + [
        f"{seq_indent}  {k}: {render(v, '')}" for k, v in list(pairs.items())[1:]]
    ins = Insertion(document=document, path=(), key="images", value=[pairs])
    text = yf.text
    m = _EOL.search(text)
    eol = m.group() if m else "\n"
    new_lines = ["images:", *entry]
    if text and not text.endswith("\n"):  # no final newline: keep it that way
        new = "".join(eol + line for line in new_lines)
    else:
        new = "".join(line + eol for line in new_lines)
    return Planned(edits=(Edit(len(text), len(text), new),), insertions=(ins,))


def _sequence_indent(yf: yamlpos.YamlFile, doc: yamlpos.Node) -> str:
    """How this document indents block sequences under a top-level key ("" or spaces)."""
    if isinstance(doc, yamlpos.MappingNode):
        for _, v in doc.value:
            if isinstance(v, yamlpos.SequenceNode) and not v.flow_style and v.value:
                return " " * _column(yf, v)
    return ""
