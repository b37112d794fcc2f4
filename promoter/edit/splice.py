"""Replace spans of a text, and write a new scalar value in the old one's style.

Only the characters of each replaced span change. A plain value stays plain unless YAML would
read the new text as something other than the same string; then it is double-quoted. The
check is made against both YAML 1.1 (PyYAML, go-yaml v2 as Kubernetes and Helm use it: ``yes``,
``on``, ``0x1F``, ``1:20``, ``y``) and YAML 1.2 core (``1e3``, ``0o17``, ``.inf``), and against
ruamel.yaml's resolvers for both versions (``1_0``), so ``1.10`` never becomes the float 1.1 for
any reader. Single- and double-quoted values keep their quotes;
a block scalar (``|``, ``>``) is rewritten only when it holds one line (``>-`` then the
value). An empty plain value (``tag:``) gets one space before the new value unless one is
already there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml.resolver
from ruamel.yaml.nodes import ScalarNode as RuamelScalar
from ruamel.yaml.resolver import VersionedResolver

from promoter.edit.model import Span
from promoter.errors import EditError

STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER_11 = yaml.resolver.Resolver()
_RUAMEL_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_CORE_12 = re.compile(
    r"""^(?:null|Null|NULL|~
        |true|True|TRUE|false|False|FALSE
        |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
        |[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
_GO_YAML_11 = frozenset({"y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO",
                         "on", "On", "ON", "off", "Off", "OFF"})
# What may stay plain in block and flow context alike: no indicator first, no ": ", " #",
# no flow indicators, no spaces at the ends.
_CONTENT = re.compile(r"[^\s][^\r\n]*?(?=[ \t]*\r?$)", re.M)  # a line's text, no indent/trailing
_SAFE_PLAIN = re.compile(r"^[A-Za-z0-9_./~$^=+\-][A-Za-z0-9_./~$^=+\-:@%]*$")


def needs_quotes(value: str) -> bool:
    """True when ``value`` written plain would not read back as the same string."""
    if not _SAFE_PLAIN.match(value) or value.endswith(":") or value in _GO_YAML_11:
        return True
    if _CORE_12.match(value):
        return True
    resolved = _RESOLVER_11.resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, value, (True, False))
    if resolved != STR_TAG:
        return True
    # ruamel.yaml reads more as numbers (``1_0``, ``-_``) in both versions
    return any(str(r.resolve(RuamelScalar, value, (True, False))) != STR_TAG
               for r in _RUAMEL_RESOLVERS)


def render(value: str, style: str) -> str:
    """``value`` as a scalar in ``style`` (``""`` plain, ``'`` or ``"``), quoted when needed."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or needs_quotes(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style:
        raise EditError(f"cannot write a {style} block scalar")
    return value


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``text[start:end]`` by ``new``; an insertion has ``start == end``."""

    start: int
    end: int
    new: str


def block_content(text: str, span: Span) -> tuple[int, int] | None:
    """Offsets of the one line of text in a block scalar (``>-`` then one line), else None."""
    nl = text.find("\n", span.start, span.end)
    if nl == -1:
        return None
    lines = [(m.start(), m.end()) for m in _CONTENT.finditer(text, nl + 1, span.end)]
    return lines[0] if len(lines) == 1 else None


def scalar_edit(text: str, span: Span, value: str) -> Edit:
    """The edit that writes ``value`` over the scalar at ``span``, in its style.

    A block scalar (``|``, ``>``, with any chomping) is rewritten only when its content is one
    line and so is the new value: that line's text is replaced, indent and header stay.
    """
    if span.style in ("|", ">"):
        bounds = block_content(text, span)
        if bounds is None or "\n" in value or value != value.strip() or not value:
            raise EditError(f"line {span.line} column {span.column}: the value is a block "
                            f"scalar ({span.style}) of several lines; promoter does not "
                            "rewrite those")
        return Edit(bounds[0], bounds[1], value)
    new = render(value, span.style)
    if span.start == span.end:  # empty plain value: "tag:" or "tag: "
        if span.start < len(text) and text[span.start] in " \t":
            return Edit(span.start + 1, span.start + 1, new)
        return Edit(span.start, span.end, " " + new)
    return Edit(span.start, span.end, new)


def splice(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits, duplicates once; EditError when two overlap.

    Insertions at the same offset go in the order given, before a replacement starting there.
    """
    ordered = sorted(dict.fromkeys(edits), key=lambda e: (e.start, e.end))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start < a.end or (a.start == b.start and a.end == b.end != a.start):
            raise EditError(f"two edits overlap at offset {b.start}")
    out: list[str] = []
    pos = 0
    for e in ordered:
        out.append(text[pos:e.start])
        out.append(e.new)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)
