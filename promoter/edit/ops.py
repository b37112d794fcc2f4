"""The engine over files and directories: find-images and set-image.

A ``values-*.yaml`` file beside a chart's ``values.yaml`` also gets Sites for its tag-only
overrides (``image: {tag: ...}``), named by the image mapping at the same key path in
``values.yaml``, as Helm merges them.

Files named explicitly are input: one that cannot be read or parsed is an error (exit 2).
Files found by walking a directory are scanned: one that cannot be read or parsed (a Helm
template with ``{{ }}``) is reported as a :class:`Problem` and skipped.

``set_image`` computes every file's new text, verifies each, and only then writes (atomically,
only the files that change), so an error anywhere writes nothing anywhere.

Matching ``--image NAME``: a site matches when NAME is the site's ``name`` as written, or when
both parse to the same normalised image (``nginx`` == ``docker.io/library/nginx``), or, for a
Kustomize entry, when NAME is its ``newName``. When nothing matches but a kustomization among
the paths builds resources (local files and directories) that use the image, an ``images:``
entry is added to it, as ``kustomize edit set image`` would.

Unpinned references (:func:`is_unpinned`: ``image: busybox``, a Helm ``tag: ""`` that means the
chart's appVersion) are left alone by a tag or digest change, with a note: pinning one silently
changes what runs. ``include_untagged=True`` (``set-image --include-untagged``) or a
``--helm-path`` naming the key asks for them explicitly. Kustomize entries, Argo CD overrides
and marker comments are explicit by nature and always set.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Iterator, Sequence

from promoter.edit.engine import apply_planned, plan_changes, screen, sites_in
from promoter.edit.files import (
    MAX_FILE_BYTES,
    YAML_SUFFIXES,
    iter_files,
    outside_root,
    read_text,
    write_all,
)
from promoter.edit.finders import helm, kustomize
from promoter.edit.insert import add_kustomize_entry
from promoter.edit.model import Change, FileEdit, Kind, Problem, SetResult, Site, Span
from promoter.edit.yamlpos import YamlFile, mapping_get, parse_yaml, scalar_value
from promoter.errors import EditError, InputError, NotFound
from promoter.refs import ImageRef, is_valid_digest, is_valid_tag

_MAX_DEPTH = 12
DEFAULT_VALUES = ("values.yaml", "values.yml")


def _load(paths: Sequence[str], helm_paths: Sequence[str], problems: list[Problem]
          ) -> Iterator[tuple[YamlFile, tuple[Site, ...]]]:
    defaults: dict[str, YamlFile | None] = {}  # values.yaml files read for overrides
    for path, root in iter_files(paths):
        explicit = root is None
        try:
            escape = None if root is None else outside_root(path, root)
            if escape is not None:
                raise InputError(escape)
            text = read_text(path)
            if not (explicit or screen(text, helm_paths) or
                    os.path.basename(path).endswith(kustomize.FILE_NAMES)):
                continue  # kustomizations are kept: set-image may add an images entry
            yf = parse_yaml(text, path)
        except InputError as e:
            if explicit:
                raise
            problems.append(Problem(file=path, message=str(e), outside=escape is not None))
            continue
        yield yf, sites_in(yf, helm_paths) + _overrides(yf, defaults)


def _overrides(yf: YamlFile, cache: dict[str, YamlFile | None]) -> tuple[Site, ...]:
    """Tag-only sites of ``values-*.yaml`` named by the ``values.yaml`` beside it."""
    name = os.path.basename(yf.path)
    if not (name.startswith("values") and name.endswith(YAML_SUFFIXES)) or \
            name in DEFAULT_VALUES:
        return ()
    directory = os.path.dirname(yf.path)
    path = next((os.path.join(directory, n) for n in DEFAULT_VALUES
                 if os.path.isfile(os.path.join(directory, n))), None)
    if path is None:
        return ()
    if path not in cache:
        try:
            cache[path] = parse_yaml(read_text(path), path)
        except InputError:
            cache[path] = None
    defaults = cache[path]
    if defaults is None:
        return ()
    taken = {s.tag.start for s in sites_in(yf) if s.tag is not None}
    return tuple(s for s in helm.find_overrides(yf, defaults)
                 if s.tag is None or s.tag.start not in taken)


def find_in_paths(paths: Sequence[str], *, helm_paths: Sequence[str] = ()
                  ) -> tuple[tuple[Site, ...], tuple[Problem, ...]]:
    """Every site in these files/directories, and the scanned files that were skipped."""
    problems: list[Problem] = []
    sites = tuple(s for _, found in _load(paths, helm_paths, problems) for s in found)
    return sites, tuple(problems)


def matches(site: Site, image: str) -> bool:
    """Whether ``--image image`` means this site (see the module docstring). A chart version
    (kind ``chart``) is never an image's, even when the chart has the image's name."""
    if site.kind is Kind.CHART:
        return False
    if site.name == image:
        return True
    ref = _parsed(image)
    if ref is None:
        return False
    if site.ref.same_image(ref):
        return True
    return bool(site.new_name) and site.deployed.same_image(ref)  # Kustomize newName


@functools.lru_cache(maxsize=4096)
def _parsed(image: str) -> ImageRef | None:
    """``image`` parsed once: locating N images in files of N sites asks N x N times."""
    return ImageRef.try_parse(image)


def _check_input(image: str, tag: str | None, digest: str | None,
                 new_name: str | None) -> None:
    if tag is None and digest is None and new_name is None:
        raise InputError("set-image: give --tag, --digest and/or --new-name")
    if not image.strip():
        raise InputError("set-image: --image is empty")
    if tag is not None and not is_valid_tag(tag):
        raise InputError(f"set-image: not a valid tag: {tag!r}")
    if digest is not None and not is_valid_digest(digest):
        raise InputError(f"set-image: not a valid digest: {digest!r}")
    if new_name is not None:
        ref = ImageRef.try_parse(new_name)
        if ref is None or ref.tag or ref.digest:
            raise InputError(f"set-image: not a valid image name: {new_name!r}")


def _refuse_conflicts(yf: YamlFile, chosen: Sequence[Site], others: Sequence[Site]) -> None:
    """Ambiguous entries, and anchors shared with an image that is not being changed."""
    seen: dict[tuple[int, tuple[str | int, ...]], Site] = {}
    for site in chosen:
        if site.kind is Kind.KUSTOMIZE:
            key = (site.document, site.yaml_path[:-2])
            first = seen.setdefault(key, site)
            if first is not site and first.name == site.name:
                raise EditError(f"{yf.where(_offset(site))}: ambiguous: {site.name} has two "
                                f"images entries (lines {first.line} and {site.line}); "
                                "nothing written")
    edited = {s.start: site for site in chosen for s in _value_spans(site)}
    for other in others:
        for span in _value_spans(other):
            if span.start in edited:
                raise EditError(
                    f"{yf.where(span.start)}: this value (a YAML anchor) is shared by "
                    f"{edited[span.start].name} and {other.name}; refusing to change both "
                    "(give each its own value first); nothing written")


def _value_spans(site: Site) -> Iterator[Span]:
    for span in (site.whole, site.tag, site.digest, site.name_span):
        if span is not None:
            yield span


def _offset(site: Site) -> int:
    for span in (site.at, site.tag, site.whole, site.name_span, site.digest):
        if span is not None:
            return span.start
    return 0


_IMPLICIT_KINDS = frozenset({Kind.MANIFEST, Kind.HELM})


def is_unpinned(site: Site) -> bool:
    """A reference found by shape that names no tag and no digest (``image: busybox``, a Helm
    ``tag: ""``): what runs is the registry's ``latest`` or the chart's appVersion."""
    return site.kind in _IMPLICIT_KINDS and site.ref.tag is None and site.ref.digest is None


def _leave_unpinned(yf: YamlFile, chosen: Sequence[Site], helm_paths: Sequence[str],
                    pins: bool) -> tuple[list[Site], list[str]]:
    """The sites to change and the notes for the unpinned ones left alone."""
    if not pins:
        return list(chosen), []
    named = {_offset(s) for s in helm.find_paths(yf, helm_paths)} if helm_paths else set()
    keep: list[Site] = []
    notes: list[str] = []
    for site in chosen:
        if is_unpinned(site) and _offset(site) not in named:
            notes.append(f"{yf.where(_offset(site))}: {site.name} has no tag or digest (the "
                         "default decides what runs); left alone, --include-untagged pins it")
        else:
            keep.append(site)
    return keep, notes


def set_image(paths: Sequence[str], image: str, *, tag: str | None = None,
              digest: str | None = None, new_name: str | None = None, dry_run: bool = False,
              helm_paths: Sequence[str] = (), include_untagged: bool = False) -> SetResult:
    """Set tag/digest/name of every reference to ``image`` in these files and directories.

    Raises InputError (bad arguments, an explicit file that is invalid, a skipped file that may
    hold the image), EditError (ambiguous, shared anchor, verification failed) or NotFound (the
    image is referenced nowhere); in each case nothing is written. ``dry_run`` computes
    everything and writes nothing. Unpinned references are left alone unless
    ``include_untagged`` (see the module docstring).
    """
    _check_input(image, tag, digest, new_name)
    problems: list[Problem] = []
    files: list[FileEdit] = []
    kustomizations: list[YamlFile] = []
    for yf, sites in _load(paths, helm_paths, problems):
        chosen = [s for s in sites if matches(s, image)]
        if not chosen:
            if _kustomization_doc(yf) is not None:
                kustomizations.append(yf)
            continue
        _refuse_conflicts(yf, chosen, [s for s in sites if s not in chosen])
        pins = (tag is not None or digest is not None) and not include_untagged
        chosen, left = _leave_unpinned(yf, chosen, helm_paths, pins)
        planned = plan_changes(yf, [Change(site=s, tag=tag, digest=digest, new_name=new_name)
                                    for s in chosen])
        files.append(FileEdit(file=yf.path, old=yf.text, new=apply_planned(yf, planned),
                              sites=tuple(chosen), notes=(*planned.notes, *left)))
    _refuse_skipped(problems, image)
    if not files:
        files = _add_entries(kustomizations, image, tag, digest, new_name, helm_paths)
    if not files:
        if ImageRef.try_parse(image) is None:  # not even a name a file could hold
            raise InputError(f"set-image: not a valid image reference: {image!r}")
        raise NotFound(f"{image}: referenced nowhere in {', '.join(paths)}")
    if not dry_run:
        try:
            write_all([(f.file, f.new, f.old) for f in files if f.changed])
        except OSError as e:
            raise InputError(f"{e.filename or ', '.join(f.file for f in files)}: cannot write: "
                             f"{e.strerror or e}; no file was changed") from None
    return SetResult(files=tuple(files), problems=tuple(problems),
                     written=not dry_run and any(f.changed for f in files))


def _refuse_skipped(problems: Sequence[Problem], image: str) -> None:
    """A skipped file that may hold the image would be left behind silently: refuse instead.
    A symlink out of the tree is never read, so it always counts; an invalid or unreadable file
    counts when its bytes name the image's repository."""
    ref = _parsed(image.strip())
    name = ref.repository.removeprefix("library/") if ref is not None else image.strip()
    # the repository as a reference token: "nginx:1", "docker.io/nginx", not "nginx.ingress"
    needle = re.compile(rb"(?:^|[\s\"'/=])" + re.escape(name.encode()) +
                        rb"(?=[:@\s\"']|$)", re.MULTILINE)
    for problem in problems:
        if problem.outside or _mentions(problem.file, needle):
            raise InputError(f"set-image: {problem.message}; it may reference {image}, so "
                             "nothing was written")


def _mentions(path: str, needle: re.Pattern[bytes]) -> bool:
    try:
        with open(path, "rb") as f:
            return needle.search(f.read(MAX_FILE_BYTES)) is not None
    except OSError:
        return False


# ---- adding a Kustomize entry -------------------------------------------------------------------


def _kustomization_doc(yf: YamlFile) -> tuple[int, tuple[str | int, ...]] | None:
    for index, doc in enumerate(yf.documents):
        found = kustomize.images_of(yf, index, doc)
        if found is not None and found[0] == ("images",):
            return index, found[0]
    return None


def _add_entries(kustomizations: Sequence[YamlFile], image: str, tag: str | None,
                 digest: str | None, new_name: str | None,
                 helm_paths: Sequence[str]) -> list[FileEdit]:
    ref = ImageRef.try_parse(image)
    if ref is None:
        return []
    name = image.partition("@")[0]
    if ref.tag:
        name = name[: name.rfind(":")]
    out = []
    for yf in kustomizations:
        where = _kustomization_doc(yf)
        if where is None or not _reaches(yf, image, helm_paths, set(), 0):
            continue
        planned = add_kustomize_entry(yf, where[0], where[1], name=name, tag=tag, digest=digest,
                             new_name=new_name)
        note = f"{yf.path}: added an images entry for {name}"
        out.append(FileEdit(file=yf.path, old=yf.text, new=apply_planned(yf, planned),
                            notes=(*planned.notes, note)))
    return out


def _resources(yf: YamlFile) -> Iterator[str]:
    doc = yf.documents[0] if yf.documents else None
    base = os.path.dirname(yf.path)
    for key in ("resources", "bases", "components"):
        node = mapping_get(doc, key)
        for item in getattr(node, "value", ()) if node is not None else ():
            entry = scalar_value(item)
            if not entry or "://" in entry or entry.startswith(("github.com/", "git@")) \
                    or "?ref=" in entry:
                continue
            yield os.path.normpath(os.path.join(base, entry))


def _reaches(yf: YamlFile, image: str, helm_paths: Sequence[str], seen: set[str],
             depth: int) -> bool:
    """Whether the kustomization's local resources reference ``image`` (any kind of site)."""
    if depth > _MAX_DEPTH:
        return False
    for path in _resources(yf):
        if path in seen:
            continue
        seen.add(path)
        if os.path.isdir(path):
            path = next((os.path.join(path, n) for n in kustomize.FILE_NAMES
                         if os.path.isfile(os.path.join(path, n))), "")
            if not path:
                continue
        try:
            child = parse_yaml(read_text(path), path)
        except InputError:
            continue
        if any(matches(s, image) for s in sites_in(child, helm_paths)):
            return True
        if posixpath.basename(path).endswith(kustomize.FILE_NAMES) and \
                _reaches(child, image, helm_paths, seen, depth + 1):
            return True
    return False
