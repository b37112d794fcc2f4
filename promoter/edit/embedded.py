"""YAML inside block scalars: find and edit the images of an embedded document byte-exactly.

Which literal block scalars (``|``, ``|-``, ``|+``) hold YAML, and read as what:

- an Argo CD ``Application`` / ``ApplicationSet`` source's ``helm.values: |``: chart values
  (read as a ``values.yaml``, by the Helm finder);
- a Kustomization's inline patches, ``patches[].patch: |`` and string items of
  ``patchesStrategicMerge``, and a Flux Kustomization's ``spec.patches[].patch``: a strategic
  merge patch (a manifest) or a JSON 6902 operation list (read as ``patch.yaml``).

The block's content is parsed on its own (the scalar's value *is* that text) and every finder
runs over it. Its sites are moved to the outer text: inner line ``k`` is outer line ``first + k``
and every column shifts by the block's indent. A site is kept only when each of its values
reads the same characters at both places and stays on one line, so an edit of the inner text
is the same edit of the outer text, and indent, header and chomping never move.

An edit is planned on the inner text (its own quoting rules, verified by re-parsing the inner
text), and the outer verification then expects the block scalar's value to be exactly the new
inner text: nothing else in the file and nothing else in the block may change. A change that
would add a key inside a block (a missing ``tag:``) is refused: it would need new lines.
Folded blocks (``>``) and blocks with an explicit indentation indicator are not read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from promoter.edit.finders import argocd, kustomize
from promoter.edit.model import Site, Span
from promoter.edit.yamlpos import (
    Node,
    ScalarNode,
    SequenceNode,
    YamlFile,
    mapping_get,
    parse_yaml,
    scalar_value,
    span_of,
)
from promoter.errors import InputError

_HEADER = re.compile(r"\|[+-]?[ \t]*(?:#[^\n]*)?\r?\n")  # no explicit indentation indicator
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/"


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """A block scalar holding YAML: its node, its span in the outer text and its parsed text."""

    node: ScalarNode
    span: Span
    inner: YamlFile
    first_line: int  # 0-based index of the outer line that holds the inner text's first line
    indent: int

    def outer_offset(self, yf: YamlFile, offset: int) -> int:
        """An offset of the inner text as an offset of the outer text (same line, shifted)."""
        line, column = self.inner.line_col(offset)
        return yf.line_starts[self.first_line + line - 1] + self.indent + column - 1

    def outer(self, yf: YamlFile, span: Span) -> Span | None:
        """``span`` of the inner text moved to the outer text; None when it does not map."""
        inner = self.inner.text
        if "\n" in inner[span.start:span.end]:
            return None
        index = self.first_line + span.line - 1
        if index >= len(yf.line_starts):
            return None
        start = yf.line_starts[index] + self.indent + span.column - 1
        end = start + span.end - span.start
        if yf.text[start:end] != inner[span.start:span.end]:
            return None
        line, column = yf.line_col(start)
        return dataclasses.replace(span, start=start, end=end, line=line, column=column)


def _candidates(yf: YamlFile) -> Iterator[tuple[Node, str]]:
    """``(scalar node, name it is read as)`` of the block scalars that may hold YAML."""
    for index, doc in enumerate(yf.documents):
        api = scalar_value(mapping_get(doc, "apiVersion")) or ""
        kind = scalar_value(mapping_get(doc, "kind"))
        if api.startswith(argocd.API_GROUP) and kind in ("Application", "ApplicationSet"):
            spec = mapping_get(doc, "spec")
            if kind == "ApplicationSet":
                spec = mapping_get(mapping_get(spec, "template"), "spec")
            sources = [mapping_get(spec, "source")]
            many = mapping_get(spec, "sources")
            if isinstance(many, SequenceNode):
                sources.extend(many.value)
            for source in sources:
                values = mapping_get(mapping_get(source, "helm"), "values")
                if values is not None:
                    yield values, "values.yaml"
            continue
        if kind == "Kustomization" and api.startswith(FLUX_KUSTOMIZE_API):
            patches: Node | None = mapping_get(mapping_get(doc, "spec"), "patches")
            merge: Node | None = None
        elif kustomize.images_of(yf, index, doc) is not None or (
                kind in ("Kustomization", "Component")):
            patches = mapping_get(doc, "patches")
            merge = mapping_get(doc, "patchesStrategicMerge")
        else:
            continue
        if isinstance(patches, SequenceNode):
            for item in patches.value:
                patch = mapping_get(item, "patch")
                if patch is not None:
                    yield patch, "patch.yaml"
        if isinstance(merge, SequenceNode):
            for item in merge.value:
                yield item, "patch.yaml"


def blocks(yf: YamlFile) -> Iterator[Block]:
    """The literal block scalars of ``yf`` that hold valid YAML (see the module docstring)."""
    for node, name in _candidates(yf):
        if not isinstance(node, ScalarNode) or node.style != "|" or "\n" not in node.value:
            continue
        span = span_of(node, yf)
        header = _HEADER.match(yf.text, span.start)
        if header is None:
            continue
        first_line = span.line  # 0-based index of the line after the header
        body = yf.text[header.end():span.end]
        content = next((ln for ln in body.splitlines() if ln.strip()), "")
        indent = len(content) - len(content.lstrip(" "))
        try:
            inner = parse_yaml(str(node.value), f"{yf.path}:{span.line}:{name}")
        except InputError:
            continue  # a template or broken text: not ours to read
        yield Block(node=node, span=span, inner=inner, first_line=first_line, indent=indent)


def moved(site: Site, block: Block, yf: YamlFile) -> Site | None:
    """The inner ``site`` as a site of the outer file (``within`` the block); None when one of
    its values does not map to the same characters."""
    def out(span: Span | None) -> Span | None:
        return None if span is None else block.outer(yf, span)

    spans = (site.tag, site.digest, site.whole, site.name_span, site.at)
    tag, digest, whole, name_span, at = (out(s) for s in spans)
    if sum(s is not None for s in (tag, digest, whole, name_span, at)) != \
            sum(s is not None for s in spans):
        return None
    return dataclasses.replace(site, file=yf.path, tag=tag, digest=digest, whole=whole,
                               name_span=name_span, at=at, within=block.span, inner=site)
