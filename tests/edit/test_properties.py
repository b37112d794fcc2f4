"""Property tests: generated YAML in mixed styles, random tag edits, byte-exact results.

Each example is a file written by :func:`documents` in one of five shapes (Helm values,
multi-document manifests, a kustomization, an Argo CD Application, a docker-compose file with
``# promoter:`` markers), with random indentation (2 or 4, sequences indented
or not), quoting (plain, single, double), flow and block mappings, full-line and end-of-line
comments, blank lines, ``# promoter:`` / Flux markers, digests, CRLF or LF, a final newline or
not. The generator knows every reference it wrote. Then:

- ``find_sites`` finds every one, with its tag;
- a random subset gets random new tags (tricky ones included: ``1.10``, ``true``, ``0x1F``...);
- the edited text equals the original with only those scalars rewritten, byte for byte: the
  expected text is built here, independently of the engine (its own quoting oracle below);
- the result has the same sites, now with the new tags, and setting them again is a no-op;
- loading the result gives the original data with exactly the new strings at the edited paths,
  with ruamel.yaml (YAML 1.2) and with PyYAML (YAML 1.1) alike.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from promoter.edit import apply_changes, find_sites
from promoter.edit.model import Change, Site
from promoter.refs import is_valid_tag

TRICKY_TAGS = ("1.10", "1.0", "10", "010", "0x1F", "1e3", "1_000", "true", "no", "on", "y",
               "null", "NaN", "v1.2.3", "latest", "2024.01.02", "1.2.3-rc.1", "sha-abc1234",
               "3.19", "8", "1.2.3_build.4", "E1", "0o17", "12.5.0-debian-11-r3")
REPOS = ("nginx", "ghcr.io/org/app", "quay.io/team/api-server", "localhost:5000/my_svc",
         "registry.example.com:8443/a/b/c", "bitnami/redis", "12")
DIGEST = "sha256:" + "d3" * 32

tags = st.one_of(st.sampled_from(TRICKY_TAGS),
                 st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
                 ).filter(is_valid_tag)
styles = st.sampled_from(["", "'", '"'])


# ---- an independent quoting oracle -------------------------------------------------------------

_RUAMEL = YAML(typ="safe", pure=True)
_GO_YAML_BOOLS = {"y", "Y", "n", "N"}  # go-yaml v2 (Kubernetes, Helm) reads these as booleans


def reads_as_itself(value: str) -> bool:
    """Whether ``value`` written plain reads back as the same string in YAML 1.1 and 1.2."""
    if value in _GO_YAML_BOOLS:
        return False
    doc = f"k: {value}\n"
    try:
        return bool(yaml.safe_load(doc) == {"k": value} and _RUAMEL.load(doc) == {"k": value})
    except Exception:
        return False


def write_scalar(value: str, style: str) -> str:
    """How a new value is expected to be written in a scalar of ``style``."""
    if style == "'":
        return f"'{value}'"
    if style == '"' or not reads_as_itself(value):
        return f'"{value}"'
    return value


# ---- the generator ---------------------------------------------------------------------------


@dataclass
class Ref:
    """One reference the generator wrote, and what the engine must do to it."""

    line: int  # 1-based line of the scalar an edit rewrites
    path: tuple[int | str, ...]  # (document, keys...) of that scalar in the loaded data
    whole: bool  # "repo:tag" in one scalar (else the tag alone)
    repo: str
    tag: str
    style: str
    digest: bool = False  # a whole reference with "@sha256:..."
    prefix: str = ""  # an Argo CD kustomize.images "name=" before a whole reference
    start: int = 0  # offsets of the scalar (quotes included), filled when the text is joined
    end: int = 0

    def new_value(self, tag: str) -> str:
        """The scalar's new value when the tag becomes ``tag`` (a new tag drops the digest)."""
        return f"{self.prefix}{self.repo}:{tag}" if self.whole else tag


@dataclass
class Writer:
    """Builds a text line by line, remembering where each reference's scalar is."""

    eol: str
    lines: list[str] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    pending: list[tuple[int, int, Ref]] = field(default_factory=list)  # line index, column

    def line(self, text: str) -> None:
        self.lines.append(text)

    def scalar_line(self, prefix: str, ref: Ref, suffix: str = "") -> None:
        """A line ``prefix + scalar + suffix`` whose scalar is the reference's."""
        value = ref.new_value(ref.tag)
        if ref.whole and ref.digest:
            value += f"@{DIGEST}"
        if ref.style == "" and (ref.whole or yaml.safe_load(f"k: {value}")["k"] is None) \
                and not reads_as_itself(value):
            ref.style = '"'  # a plain tag may read as a number, a whole reference may not
        scalar = value if ref.style == "" else write_scalar(value, ref.style)
        ref.line = len(self.lines) + 1
        self.pending.append((len(self.lines), len(prefix), ref))
        self.refs.append(ref)
        self.lines.append(prefix + scalar + suffix)
        ref.end = len(scalar)

    def text(self, final_newline: bool) -> str:
        offsets = [0]
        for ln in self.lines:
            offsets.append(offsets[-1] + len(ln) + len(self.eol))
        for index, col, ref in self.pending:
            ref.start = offsets[index] + col
            ref.end += ref.start
        text = self.eol.join(self.lines)
        return text + self.eol if final_newline else text


@st.composite
def comment(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", "", "  # pinned", " # see README: a, b"]))


@st.composite
def maybe_comment_line(draw: st.DrawFn, w: Writer, indent: str) -> None:
    kind = draw(st.sampled_from(["none", "none", "comment", "blank", "trailing"]))
    if kind == "comment":
        w.line(f"{indent}# {draw(st.sampled_from(['note', 'image: fake:1.0', '---', 'x: y']))}")
    elif kind == "blank":
        w.line("")
    elif kind == "trailing":
        w.line(f"{indent}# trailing spaces   ")


@st.composite
def helm_values(draw: st.DrawFn, w: Writer, ind: int, seq_in: bool) -> str:
    """Components with ``image: {repository, tag}`` (block or flow) or ``image: repo:tag``."""
    sp = " " * ind
    w.line("# Default values for a chart")
    w.line("replicaCount: 1")
    for i in range(draw(st.integers(1, 4))):
        name = f"comp{i}"
        draw(maybe_comment_line(w, ""))
        w.line(f"{name}:")
        w.line(f"{sp}enabled: true{draw(comment())}")
        shape = draw(st.sampled_from(["block", "block", "flow", "whole", "list"]))
        repo, tag, style = draw(st.sampled_from(REPOS)), draw(tags), draw(styles)
        if shape == "block":
            w.line(f"{sp}image:")
            w.line(f"{sp}{sp}repository: {repo}")
            draw(maybe_comment_line(w, sp + sp))
            w.scalar_line(f"{sp}{sp}tag: ", Ref(0, (0, name, "image", "tag"), False, repo, tag,
                                                 style), draw(comment()))
            if draw(st.booleans()):
                w.line(f"{sp}{sp}digest: {DIGEST}")
            w.line(f"{sp}{sp}pullPolicy: IfNotPresent")
        elif shape == "flow":
            ref = Ref(0, (0, name, "image", "tag"), False, repo, tag, style)
            w.scalar_line(f"{sp}image: {{repository: {repo}, tag: ", ref, "}" + draw(comment()))
        elif shape == "whole":
            ref = Ref(0, (0, name, "image"), True, repo, tag, style, digest=draw(st.booleans()))
            w.scalar_line(f"{sp}image: ", ref, draw(comment()))
        else:  # a list of sidecars with images
            w.line(f"{sp}sidecars:")
            dash = sp + (sp + "- " if seq_in else "- ")
            inner = " " * len(dash)
            for j in range(draw(st.integers(1, 2))):
                w.line(f"{dash}name: side{j}")
                ref = Ref(0, (0, name, "sidecars", j, "image"), True, repo, tag, style)
                w.scalar_line(f"{inner}image: ", ref, draw(comment()))
        w.line(f"{sp}resources: {{}}")
    # a marked scalar in a file no finder knows the shape of
    if draw(st.booleans()):
        ref = Ref(0, (0, "appVersion"), False, "ghcr.io/org/marked", draw(tags), draw(styles))
        w.scalar_line("appVersion: ", ref, "  # promoter: ghcr.io/org/marked:tag")
    w.line("notes: |")
    w.line(f"{sp}image: not/edited:1.0")
    w.line(f"{sp}tag: 2.0")
    return "values.yaml"


@st.composite
def manifests(draw: st.DrawFn, w: Writer, ind: int, seq_in: bool) -> str:
    """Deployments (multi-document) with containers and initContainers."""
    sp = " " * ind
    if draw(st.booleans()):
        w.line("---")
    for d in range(draw(st.integers(1, 3))):
        if d:
            w.line("---")
        w.line("apiVersion: apps/v1")
        w.line("kind: Deployment")
        w.line("metadata:")
        w.line(f"{sp}name: app{d}{draw(comment())}")
        w.line("spec:")
        w.line(f"{sp}template:")
        w.line(f"{sp * 2}spec:")
        for key in draw(st.sampled_from([("containers",), ("initContainers", "containers")])):
            w.line(f"{sp * 3}{key}:")
            dash = sp * 3 + ("- " if not seq_in else sp + "- ")
            inner = " " * len(dash)
            for j in range(draw(st.integers(1, 2))):
                draw(maybe_comment_line(w, inner))
                w.line(f"{dash}name: c{j}")
                repo, tag, style = draw(st.sampled_from(REPOS)), draw(tags), draw(styles)
                ref = Ref(0, (d, "spec", "template", "spec", key, j, "image"), True, repo, tag,
                          style, digest=draw(st.booleans()))
                flux = draw(st.booleans())
                suffix = ' # {"$imagepolicy": "flux-system:p' + str(j) + '"}' if flux \
                    else draw(comment())
                w.scalar_line(f"{inner}image: ", ref, suffix)
                w.line(f"{inner}args: [--port, \"8080\"]")
    return "deploy.yaml"


@st.composite
def kustomization(draw: st.DrawFn, w: Writer, ind: int, seq_in: bool) -> str:
    sp = " " * ind
    w.line("apiVersion: kustomize.config.k8s.io/v1beta1")
    w.line("kind: Kustomization")
    w.line("resources:")
    w.line(f"{sp if seq_in else ''}- ../../base")
    w.line("images:")
    dash = sp + "- " if seq_in else "- "
    inner = " " * len(dash)
    for i in range(draw(st.integers(1, 4))):
        draw(maybe_comment_line(w, inner))
        name = f"app{i}"
        tag, style = draw(tags), draw(styles)
        if draw(st.booleans()):
            w.line(f"{dash}name: {name}")
            if draw(st.booleans()):
                w.line(f"{inner}newName: ghcr.io/org/{name}")
            w.scalar_line(f"{inner}newTag: ", Ref(0, (0, "images", i, "newTag"), False, name,
                                                  tag, style), draw(comment()))
        else:
            w.scalar_line(f"{dash}{{name: {name}, newTag: ", Ref(
                0, (0, "images", i, "newTag"), False, name, tag, style), "}")
    return "kustomization.yaml"


@st.composite
def argocd_application(draw: st.DrawFn, w: Writer, ind: int, seq_in: bool) -> str:
    """An Application with Helm parameters and kustomize.images strings."""
    sp = " " * ind
    lead = sp * 3 + (sp if seq_in else "")
    dash, inner = lead + "- ", lead + "  "
    w.line("apiVersion: argoproj.io/v1alpha1")
    w.line("kind: Application")
    w.line("metadata:")
    w.line(f"{sp}name: shop{draw(comment())}")
    w.line("spec:")
    w.line(f"{sp}source:")
    w.line(f"{sp * 2}helm:")
    w.line(f"{sp * 3}parameters:")
    for i in range(draw(st.integers(1, 2))):
        draw(maybe_comment_line(w, lead))
        repo, tag, style = draw(st.sampled_from(REPOS)), draw(tags), draw(styles)
        w.line(f"{dash}name: c{i}.image.repository")
        w.line(f"{inner}value: {repo}")
        w.line(f"{dash}name: c{i}.image.tag")
        w.scalar_line(f"{inner}value: ", Ref(
            0, (0, "spec", "source", "helm", "parameters", 2 * i + 1, "value"), False, repo, tag,
            style), draw(comment()))
    w.line(f"{sp * 2}kustomize:")
    w.line(f"{sp * 3}images:")
    for i in range(draw(st.integers(1, 3))):
        repo, tag, style = draw(st.sampled_from(REPOS)), draw(tags), draw(styles)
        prefix = draw(st.sampled_from(["", f"app{i}="]))
        w.scalar_line(dash, Ref(0, (0, "spec", "source", "kustomize", "images", i), True, repo,
                                tag, style, prefix=prefix), draw(comment()))
    return "app.yaml"


@st.composite
def compose(draw: st.DrawFn, w: Writer, ind: int, seq_in: bool) -> str:
    """A docker-compose file whose images are managed through ``# promoter:`` markers."""
    sp = " " * ind
    w.line("services:")
    for i in range(draw(st.integers(1, 3))):
        repo, tag = draw(st.sampled_from(REPOS)), draw(tags)
        w.line(f"{sp}svc{i}:")
        ref = Ref(0, (0, "services", f"svc{i}", "image"), True, repo, tag, draw(styles))
        w.scalar_line(f"{sp * 2}image: ", ref, f"  # promoter: {repo}")
        w.line(f"{sp * 2}environment:")
        ref = Ref(0, (0, "services", f"svc{i}", "environment", "VERSION"), False, repo, tag,
                  draw(styles))
        w.scalar_line(f"{sp * 3}VERSION: ", ref, f" # promoter: {repo}:tag")
        w.line(f"{sp * 2}ports: [\"8080:80\"]")
    return "docker-compose.yml"


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str, list[Ref]]:
    w = Writer(eol=draw(st.sampled_from(["\n", "\n", "\r\n"])))
    ind, seq_in = draw(st.sampled_from([2, 4])), draw(st.booleans())
    shape = draw(st.sampled_from([helm_values, manifests, kustomization, argocd_application,
                                  compose]))
    path = draw(shape(w, ind, seq_in))
    text = w.text(final_newline=draw(st.booleans()))
    return text, path, w.refs


def load_all(loader: Any, text: str) -> list[Any]:
    if loader == "ruamel":
        return list(_RUAMEL.load_all(io.StringIO(text)))
    return list(yaml.safe_load_all(text))


def set_path(data: list[Any], path: tuple[int | str, ...], value: str) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def site_for(sites: tuple[Site, ...], ref: Ref) -> Site:
    found = [s for s in sites if s.line == ref.line]
    assert len(found) == 1, (ref, found)
    return found[0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), data=st.data())
def test_random_tag_edits_change_only_the_edited_scalars(doc: tuple[str, str, list[Ref]],
                                                         data: st.DataObject) -> None:
    text, path, refs = doc
    sites = find_sites(text, path)
    for ref in refs:  # every reference is found, with its tag
        assert site_for(sites, ref).ref.tag == ref.tag
        assert text[ref.start:ref.end].strip("'\"").startswith(
            ref.new_value(ref.tag))
    chosen = data.draw(st.lists(st.sampled_from(refs), unique_by=id, min_size=1), "edited")
    new_tags = [data.draw(tags.filter(functools.partial(str.__ne__, r.tag)), "tag")
                for r in chosen]
    changes = [Change(site=site_for(sites, r), tag=t) for r, t in zip(chosen, new_tags,
                                                                       strict=True)]
    new = apply_changes(text, path, changes)

    # byte for byte: the original with exactly those scalars rewritten in their style
    expected = text
    for r, t in sorted(zip(chosen, new_tags, strict=True), key=lambda p: -p[0].start):
        expected = expected[:r.start] + write_scalar(r.new_value(t), r.style) + \
            expected[r.end:]
    assert new == expected

    # found again with the new tags, at the same lines; setting them again changes nothing
    again = find_sites(new, path)
    for r, t in zip(chosen, new_tags, strict=True):
        assert site_for(again, r).ref.tag == t
    same = [Change(site=site_for(again, r), tag=t) for r, t in zip(chosen, new_tags,
                                                                    strict=True)]
    assert apply_changes(new, path, same) == new

    # the data: the original's, with the new strings at the edited paths (YAML 1.2 and 1.1)
    for loader in ("ruamel", "pyyaml"):
        want = load_all(loader, text)
        for r, t in zip(chosen, new_tags, strict=True):
            set_path(want, r.path, r.new_value(t))
        assert load_all(loader, new) == want, loader
