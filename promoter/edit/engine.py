"""Find and change image references in texts: screen, locate, splice, verify.

Pure over texts (no filesystem here; :mod:`promoter.edit.ops` does files).

- :func:`find_sites` screens the text (no ``image``, ``promoter:`` or user key: nothing to do,
  not even a parse), composes it once and runs every finder of
  :data:`promoter.edit.finders.FINDERS`, keeping one Site per span (see that module).
- :func:`apply_changes` turns :class:`Change` values into character edits, splices them and
  verifies the result (:mod:`promoter.edit.verify`); it raises :class:`EditError` and returns
  nothing half-done.

Rules for a change (documented here because they are choices):

- Whole references (``image: app:1.0@sha256:...``, and ``tag: 1.0@sha256:...``): a new tag
  without a new digest drops the old digest, which pinned the old image; a new digest keeps
  the tag.
- Separate fields: a missing ``newTag``/``tag``, ``digest`` or ``newName`` key is added to a
  Kustomize or Helm mapping in its own style (indent, flow or block, quoting of its siblings).
  An existing separate digest is left alone when only the tag changes (a note says so).
- Anchors: a value written with ``&anchor`` and used through ``*alias`` elsewhere is edited at the
  anchor, so every alias follows; the result carries a note naming the alias paths. When the
  anchored value also belongs to another image that is not being changed the same way,
  :func:`promoter.edit.ops.set_image` refuses (EditError) instead.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
from collections.abc import Iterator, Sequence

from promoter.edit import embedded, yamlpos
from promoter.edit.finders import FINDERS, PRIORITY, helm
from promoter.edit.insert import Planned, insert_key, node_at, sibling_style
from promoter.edit.model import Change, Kind, Site, Span
from promoter.edit.splice import Edit, scalar_edit, splice
from promoter.edit.verify import Insertion, verify
from promoter.errors import EditError

# A file without any of these words (any case: coreImage, FOO_IMAGE) holds nothing a finder
# could report ("repo": a Helm {repository, tag} or {repo, tag} block under any key; "chart":
# a chart version in a HelmRelease, an Argo CD source or kustomize's helmCharts).
SCREEN_WORDS = ("image", "promoter:", "repo", "chart")
_SCREEN = re.compile("|".join(SCREEN_WORDS), re.IGNORECASE)
STR_TAG = "tag:yaml.org,2002:str"
_KEYS = {
    Kind.KUSTOMIZE: {"tag": "newTag", "digest": "digest", "name": "newName"},
    Kind.HELM: {"tag": "tag", "digest": "digest"},
}


def screen(text: str, helm_paths: Sequence[str] = ()) -> bool:
    """False when the text cannot hold an image reference (cheap, before any parsing)."""
    return _SCREEN.search(text) is not None or any(
        p.rpartition(".")[2] in text for p in helm_paths)


def _key(site: Site) -> tuple[int | None, ...]:
    return tuple(s.start if s else None for s in (site.whole, site.name_span, site.tag,
                                                    site.digest, site.at))


def _spans(site: Site) -> Iterator[int]:
    for s in (site.whole, site.name_span, site.tag, site.digest):
        if s is not None:
            yield s.start


def dedupe(sites: Sequence[Site]) -> tuple[Site, ...]:
    """One Site per span: of overlapping sites of different kinds the higher priority wins;
    same-kind sites that share only a value (an anchor) both stay. A chart version site stays
    beside an image site on the same scalar (a Flux ``$imagepolicy`` marker on a HelmRelease's
    version): charts and images never match each other's configuration. File order."""
    owner: dict[int, Kind] = {}
    seen: set[tuple[object, ...]] = set()
    kept: list[Site] = []
    for site in sorted(sites, key=lambda s: PRIORITY[s.kind]):
        if site.kind is Kind.CHART:  # a chart version is no image's: it competes with none
            if (Kind.CHART, _key(site)) not in seen:
                seen.add((Kind.CHART, _key(site)))
                kept.append(site)
            continue
        if _key(site) in seen or any(owner.get(p, site.kind) != site.kind for p in _spans(site)):
            continue
        seen.add(_key(site))
        for p in _spans(site):
            owner.setdefault(p, site.kind)
        kept.append(site)
    return tuple(sorted(kept, key=lambda s: (s.line, min(_spans(s), default=0), s.kind.value)))


def sites_in(yf: yamlpos.YamlFile, helm_paths: Sequence[str] = ()) -> tuple[Site, ...]:
    """Every site of a parsed file (and of the YAML its block scalars hold), de-duplicated."""
    found = [site for finder in FINDERS.values() for site in finder(yf)]
    if helm_paths:
        found.extend(helm.find_paths(yf, helm_paths))
    if "|" in yf.text:
        found.extend(_embedded_sites(yf))
    return dedupe(found)


def _embedded_sites(yf: yamlpos.YamlFile) -> Iterator[Site]:
    for block in embedded.blocks(yf):
        for site in sites_in(block.inner):
            out = embedded.moved(site, block, yf)
            if out is not None:
                yield out


# find_sites then apply_changes on the same text parse it once (texts are immutable, so is
# YamlFile; the cache holds a few recent files only).
_parse = functools.lru_cache(maxsize=4)(yamlpos.parse_yaml)


def find_sites(text: str, path: str, *, helm_paths: Sequence[str] = ()) -> tuple[Site, ...]:
    """Every image reference in ``text``; InputError ``path:line:col`` when it is invalid YAML."""
    if not screen(text, helm_paths):
        return ()
    return sites_in(_parse(text, path), helm_paths)


# ---- planning edits -----------------------------------------------------------------------------


class _Index:
    """Scalars of a file by value offset, and which nodes are reached more than once (aliases)."""

    def __init__(self, yf: yamlpos.YamlFile) -> None:
        self.yf = yf
        self.by_start: dict[int, yamlpos.ScalarNode] = {}
        self.seen: collections.Counter[int] = collections.Counter()
        self.aliased = False  # some node is reached twice (an alias)
        text, bom = yf.text, yf.bom
        stack: list[yamlpos.Node] = list(yf.documents)
        while stack:
            n = stack.pop()
            self.seen[id(n)] += 1
            if self.seen[id(n)] > 1:
                self.aliased = True
                continue
            if isinstance(n, yamlpos.ScalarNode):
                start = n.start_mark.index + bom
                if text[start:start + 1] in ("&", "!"):
                    start = yamlpos.value_start(n, yf)
                self.by_start.setdefault(start, n)
            elif isinstance(n, yamlpos.MappingNode):
                stack.extend(v for _, v in n.value)
            elif isinstance(n, yamlpos.SequenceNode):
                stack.extend(n.value)

    def node(self, span: Span) -> yamlpos.ScalarNode:
        found = self.by_start.get(span.start)
        if found is None:
            raise EditError(f"{self.yf.path}:{span.line}:{span.column}: no YAML value there "
                            "(the file changed since it was read?)")
        return found

    def shared(self, node: yamlpos.Node) -> tuple[str | None, list[yamlpos.YamlPath]]:
        """``(anchor, paths)`` when ``node`` is reached through an alias (itself or an
        ancestor), else ``(None, [])``."""
        paths: list[yamlpos.YamlPath] = []
        anchor: str | None = None
        for doc in self.yf.documents:
            for p, n in yamlpos.walk(doc):
                if n is node:
                    paths.append(p)
        if len(paths) < 2:
            return None, []
        for doc in self.yf.documents:  # the anchored node: the longest common path prefix
            for p, n in yamlpos.walk(doc):
                if self.seen[id(n)] > 1 and any(q[:len(p)] == p for q in paths):
                    anchor = yamlpos.anchor_of(n, self.yf)
                    if anchor:
                        return anchor, paths
        return anchor, paths


class _Planner:
    """Collects the edits of the changes to one file."""

    def __init__(self, yf: yamlpos.YamlFile) -> None:
        self.yf = yf
        self.index = _Index(yf)
        self.edits: list[Edit] = []
        self.replace: list[tuple[int, str]] = []
        self.insertions: list[Insertion] = []
        self.notes: list[str] = []
        self.embedded: dict[int, list[Change]] = {}  # block scalar start -> its changes

    def planned(self) -> Planned:
        if self.embedded:
            self.plan_blocks()
        return Planned(edits=tuple(self.edits), replace=tuple(self.replace),
                       insertions=tuple(self.insertions), notes=tuple(dict.fromkeys(self.notes)))

    def set_scalar(self, site: Site, span: Span, value: str) -> None:
        yf, node = self.yf, self.index.node(span)
        if span.style in ("|", ">"):  # one line of content is replaced, the rest stays
            edit = scalar_edit(yf.text, span, value)
            old = yf.text[edit.start:edit.end]
            if old == value:
                return
            value = str(node.value).replace(old, value, 1)
        elif node.value == value and node.tag == STR_TAG:
            return
        else:
            edit = scalar_edit(yf.text, span, value)
        self.edits.append(edit)
        self.replace.append((id(node), value))
        if self.index.aliased:
            anchor, reached = self.index.shared(node)
            if reached:
                where = ", ".join("/".join(map(str, p)) or "/" for p in reached)
                self.notes.append(f"{yf.where(span.start)}: this value is shared through the "
                                  f"YAML anchor &{anchor or '?'} (at {where}); edited once, "
                                  "every alias follows")

    def add(self, site: Site, part: str, value: str) -> None:
        yf, doc = self.yf, self.yf.documents[site.document]
        keys = _KEYS.get(site.kind, {})
        parent = node_at(doc, site.yaml_path[:-1])
        if part not in keys or not isinstance(parent, yamlpos.MappingNode):
            self.notes.append(f"{yf.where(_anchor_offset(site))}: this {site.kind.value} "
                              f"reference has no {part} to set; left as it is")
            return
        key = keys[part]
        if part == "tag" and isinstance(site.yaml_path[-1], str):
            key = site.yaml_path[-1]  # the name this shape gives its tag (imageTag, newTag)
        container = node_at(doc, site.yaml_path[:-2])
        siblings = container.value if isinstance(container, yamlpos.SequenceNode) else [parent]
        self.edits.append(insert_key(yf, parent, key, value, sibling_style(siblings, key)))
        self.insertions.append(Insertion(document=site.document, path=site.yaml_path[:-1],
                                         key=key, value=value))

    def plan_blocks(self) -> None:
        """Changes inside block scalars: planned and verified on the block's own text, then
        the same characters are replaced in the file (see :mod:`promoter.edit.embedded`)."""
        yf = self.yf
        by_start = {b.span.start: b for b in embedded.blocks(yf)}
        for start, changes in self.embedded.items():
            block = by_start.get(start)
            if block is None:
                raise EditError(f"{yf.where(start)}: no YAML block there (the file changed "
                                "since it was read?)")
            inner = plan_changes(block.inner, [
                dataclasses.replace(c, site=c.site.inner) for c in changes
                if c.site.inner is not None])
            if inner.insertions or any("\n" in e.new for e in inner.edits):
                raise EditError(f"{yf.where(start)}: the reference inside this block scalar "
                                "has no value to set there (a key would have to be added); "
                                "add it by hand")
            new_inner = apply_planned(block.inner, inner)
            if new_inner == block.inner.text:
                continue
            for e in inner.edits:
                begin = block.outer_offset(yf, e.start)
                self.edits.append(Edit(begin, begin + e.end - e.start, e.new))
            self.replace.append((id(block.node), new_inner))
            self.notes.extend(inner.notes)

    def change(self, change: Change) -> None:
        site = change.site
        if site.within is not None:
            self.embedded.setdefault(site.within.start, []).append(change)
            return
        if site.whole is not None:
            self.set_scalar(site, site.whole, _whole_value(
                self.index.node(site.whole).value, change))
            return
        if site.tag is not None and site.tag == site.digest:  # "v1.2@sha256:..." in one scalar
            tag, _, digest = self.index.node(site.tag).value.partition("@")
            new = _whole_value(f"x:{tag}@{digest}", change).partition(":")[2]
            self.set_scalar(site, site.tag, new)
            if change.new_name:
                self.set_name(site, change.new_name)
            return
        if change.new_name:  # kustomize's key order: name, newName, newTag, digest
            self.set_name(site, change.new_name)
        if change.tag is not None and change.tag != site.ref.tag:
            if site.tag is not None:
                self.set_scalar(site, site.tag, change.tag)
            else:
                self.add(site, "tag", change.tag)
            if change.digest is None and site.ref.digest:
                self.notes.append(f"{self.yf.where(_anchor_offset(site))}: {site.name} keeps "
                                  f"its digest {site.ref.digest}, which still decides the image")
        if change.digest is not None and change.digest != site.ref.digest:
            if site.digest is not None:
                self.set_scalar(site, site.digest, change.digest)
            else:
                self.add(site, "digest", change.digest)

    def set_name(self, site: Site, new_name: str) -> None:
        if site.name_span is None:
            self.add(site, "name", new_name)
            return
        written = str(self.index.node(site.name_span).value)
        prefix = site.name[: len(site.name) - len(written)] if site.name.endswith(written) \
            else ""
        if prefix and not new_name.startswith(prefix):
            raise EditError(f"{self.yf.where(site.name_span.start)}: {site.name} names its "
                            f"registry in a separate key; cannot move it to {new_name}")
        self.set_scalar(site, site.name_span, new_name[len(prefix):])


def _whole_value(old: str, change: Change) -> str:
    name, tag, digest = yamlpos.split_written(old.strip())
    match, eq, name = name.rpartition("=")  # Argo CD's "name=newName:tag" keeps its "name="
    if change.new_name:
        name = change.new_name
    if change.tag is not None and change.tag != tag:
        tag, digest = change.tag, None  # the old digest pinned the old image
    if change.digest is not None:
        digest = change.digest
    return match + eq + name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _anchor_offset(site: Site) -> int:
    for span in (site.tag, site.whole, site.name_span, site.digest, site.at):
        if span is not None:
            return span.start
    return 0


def apply_planned(yf: yamlpos.YamlFile, planned: Planned) -> str:
    """Splice and verify; the new text (the old one when there is nothing to do)."""
    if not planned.edits:
        return yf.text
    new_text = splice(yf.text, planned.edits)
    verify(yf, new_text, dict(planned.replace), planned.insertions)
    return new_text


def plan_changes(yf: yamlpos.YamlFile, changes: Sequence[Change]) -> Planned:
    """The edits, expectations and notes of ``changes`` to sites of ``yf``."""
    planner = _Planner(yf)
    for change in changes:
        planner.change(change)
    return planner.planned()


def apply_changes(text: str, path: str, changes: Sequence[Change]) -> str:
    """Apply changes to sites of ``text`` (found in this very text), verified; pure.

    Raises :class:`EditError` (nothing is returned half-done) when a change cannot be made or
    the result would differ from the intended one anywhere else.
    """
    if not changes:
        return text
    yf = _parse(text, path)
    return apply_planned(yf, plan_changes(yf, changes))
