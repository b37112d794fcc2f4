"""The engine's pieces: spans, quoting, splicing, verification, de-duplication, anchors, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.edit import Change, Kind, apply_changes, find_sites
from promoter.edit.engine import dedupe, plan_changes
from promoter.edit.model import Span
from promoter.edit.splice import Edit, needs_quotes, render, scalar_edit, splice
from promoter.edit.verify import verify
from promoter.edit.yamlpos import (
    anchor_of,
    iter_mapping,
    mapping_get,
    parse_yaml,
    scalar_value,
    span_of,
    walk,
)
from promoter.errors import EditError, InputError

# ---- yamlpos -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value_text", "style", "line", "col"), [
    ("a: b\n", "b", "", 1, 4),
    ("a: 'b'\n", "'b'", "'", 1, 4),
    ('x: 1\na:   "b c"  # c\n', '"b c"', '"', 2, 6),
    ("a: &x !!str b\n", "b", "", 1, 13),
    ("\ufeffa: b\r\n", "b", "", 1, 5),
    ("a: é\nb: ü\n", "ü", "", 2, 4),
    ("- a: |\n    x\n", "|\n    x\n", "|", 1, 6),
])
def test_span_of_last_scalar_value(text: str, value_text: str, style: str, line: int,
                                   col: int) -> None:
    yf = parse_yaml(text, "f.yaml")
    *_, (_, node) = walk(yf.documents[0])
    span = span_of(node, yf)
    assert text[span.start:span.end] == value_text
    assert (span.style, span.line, span.column) == (style, line, col)


def test_bom_is_kept_in_text_and_offsets_index_it() -> None:
    yf = parse_yaml("\ufeffimage: a:1\n", "f.yaml")
    assert yf.bom == 1 and yf.text.startswith("\ufeff")
    node = mapping_get(yf.documents[0], "image")
    assert node is not None
    assert yf.text[span_of(node, yf).start:span_of(node, yf).end] == "a:1"


def test_helpers_walk_mappings_sequences_and_aliases() -> None:
    yf = parse_yaml("a: &v {b: [1, x]}\nc: *v\n", "f.yaml")
    doc = yf.documents[0]
    assert [k for k, _, _ in iter_mapping(doc)] == ["a", "c"]
    assert mapping_get(doc, "a") is mapping_get(doc, "c")  # an alias is the anchor's node
    assert scalar_value(mapping_get(doc, "missing")) is None
    paths = [p for p, _ in walk(doc)]
    assert ("a", "b", 1) in paths and ("c", "b", 1) in paths
    assert anchor_of(mapping_get(doc, "a"), yf) == "v"  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "where"), [
    ("a: [1, 2\n", "f.yaml:2:1:"),
    ("a: b\n c: d\n", "f.yaml:2:3:"),
    ("key: 'open\n", "f.yaml:2:1:"),
    ("a:\n  image: x\n  tag: 1\n  image: y\n", "f.yaml:4:3:"),  # duplicate key
])
def test_invalid_yaml_is_one_line_with_file_line_column(text: str, where: str) -> None:
    with pytest.raises(InputError) as e:
        parse_yaml(text, "f.yaml")
    assert str(e.value).startswith(where + " invalid YAML")
    parse_yaml("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", "f.yaml")  # merge keys may repeat
    assert "\n" not in str(e.value)


# ---- quoting and splicing ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "quoted"), [
    ("1.2.3", False), ("v1.10", False), ("latest", False), ("sha256:abc", False),
    ("ghcr.io/a/b:1.0@sha256:ab", False), ("1.10", True), ("1", True), ("true", True),
    ("yes", True), ("no", True), ("on", True), ("y", True), ("N", True), ("0x1F", True),
    ("1e3", True), ("0o17", True), (".inf", True), ("null", True), ("~", True), ("", True),
    ("1:20", True), ("2001-12-14", True), ("a: b", True), ("#x", True),
    ("x:", True), ("-x", False), ("a b", True), ("[x]", True), ("- x", True), ("1_000", True),
    ("NaN", False),
])
def test_needs_quotes(value: str, quoted: bool) -> None:
    assert needs_quotes(value) is quoted


@pytest.mark.parametrize(("value", "style", "out"), [
    ("1.2", "", '"1.2"'), ("1.2.0", "", "1.2.0"), ("1.2.0", "'", "'1.2.0'"),
    ("it's", "'", "'it''s'"), ('a"b', '"', '"a\\"b"'), ("v1", '"', '"v1"'),
])
def test_render_keeps_style_and_quotes_when_needed(value: str, style: str, out: str) -> None:
    assert render(value, style) == out


def test_splice_applies_in_any_order_and_refuses_overlaps() -> None:
    text = "abcdef"
    assert splice(text, [Edit(4, 5, "E"), Edit(0, 1, "A"), Edit(2, 2, "+")]) == "Ab+cdEf"
    assert splice(text, [Edit(3, 3, "1"), Edit(3, 3, "2")]) == "abc12def"
    with pytest.raises(EditError):
        splice(text, [Edit(0, 3, "x"), Edit(2, 4, "y")])


def test_verify_rejects_anything_but_the_intended_change() -> None:
    yf = parse_yaml("a: 1.9  # c\nb: x\n", "f.yaml")
    node = mapping_get(yf.documents[0], "a")
    assert node is not None
    verify(yf, 'a: "1.10"  # c\nb: x\n', {id(node): "1.10"})
    with pytest.raises(EditError, match=r"f.yaml: the edit would change more .*document 1 at a"):
        verify(yf, "a: 1.10  # c\nb: x\n", {id(node): "1.10"})  # a float, not the string
    with pytest.raises(EditError, match="at b"):
        verify(yf, 'a: "1.10"  # c\nb: y\n', {id(node): "1.10"})
    with pytest.raises(EditError, match="not valid YAML"):
        verify(yf, 'a: "1.10\nb: x\n', {id(node): "1.10"})


# ---- engine --------------------------------------------------------------------------------------

VALUES = """\
image:
  repository: ghcr.io/acme/app   # app
  tag: "1.0"
manifest: {apiVersion: v1, kind: Pod}
"""


def test_find_sites_screens_texts_without_images() -> None:
    assert find_sites("a: [1, 2\n", "f.yaml") == ()  # not even parsed
    with pytest.raises(InputError):
        find_sites("image: [1, 2\n", "f.yaml")


def test_apply_changes_touches_only_the_value() -> None:
    (site,) = find_sites(VALUES, "values.yaml")
    assert (site.kind, site.name, site.ref.tag, site.line) == (Kind.HELM, "ghcr.io/acme/app",
                                                               "1.0", 3)
    new = apply_changes(VALUES, "values.yaml", [Change(site=site, tag="1.1")])
    assert new == VALUES.replace('"1.0"', '"1.1"')
    assert apply_changes(VALUES, "values.yaml", [Change(site=site, tag="1.0")]) == VALUES


def test_dedupe_prefers_the_more_specific_finder() -> None:
    text = ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n"
            "  - image: ghcr.io/a/b:1 # promoter: ghcr.io/a/b\n")
    sites = find_sites(text, "pod.yaml")
    assert [s.kind for s in sites] == [Kind.MARKER]
    assert dedupe([*sites, *sites]) == sites


def test_anchor_is_edited_with_a_note() -> None:
    text = "base: &t '1.0'\nimage:\n  repository: acme/app\n  tag: *t\n"
    (site,) = find_sites(text, "values.yaml")
    yf = parse_yaml(text, "values.yaml")
    planned = plan_changes(yf, [Change(site=site, tag="2.0")])
    assert planned.notes == ("values.yaml:1:10: this value is shared through the YAML anchor &t "
                             "(at base, image/tag); edited once, every alias follows",)
    assert apply_changes(text, "values.yaml", [Change(site=site, tag="2.0")]) == \
        text.replace("'1.0'", "'2.0'")


def test_multi_line_block_scalar_is_refused() -> None:
    text = "a: |\n  one\n  two\n"
    span = Span(start=3, end=len(text), line=1, column=4, style="|")
    with pytest.raises(EditError, match="line 1 column 4: the value is a block scalar"):
        scalar_edit(text, span, "three")


def test_one_line_block_scalar_is_rewritten() -> None:
    text = "image: >-\n  ghcr.io/a/b:1   \nx: 1\n"
    (site,) = find_sites(text, "values.yaml")
    assert apply_changes(text, "values.yaml", [Change(site=site, tag="2")]) == \
        text.replace("b:1", "b:2")


def test_span_from_another_text_is_an_error() -> None:
    (site,) = find_sites(VALUES, "values.yaml")
    moved = "# one more line\n" + VALUES
    with pytest.raises(EditError, match="no YAML value there"):
        apply_changes(moved, "values.yaml", [Change(site=site, tag="2")])


def test_helm_values_only_in_values_files_and_values_keys() -> None:
    compose = "services:\n  web:\n    image: nginx:1.25\n"  # a compose file's, not Helm's
    assert [(s.kind, s.name) for s in find_sites(compose, "docker-compose.yaml")] == [
        (Kind.MANIFEST, "nginx")]
    release = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  values:\n"
               "    image: {repository: acme/app, tag: '1'}\n  image: not/values:1\n")
    assert [(s.kind, s.name) for s in find_sites(release, "release.yaml")] == [
        (Kind.HELM, "acme/app"), (Kind.MANIFEST, "not/values")]  # spec.image: a CRD's own


def test_helm_shapes() -> None:
    text = """\
a:
  image: {registry: quay.io, repository: x/y, tag: v1, digest: ""}
b:
  - name: w
    image: {name: acme/w, tag: "2"}
c:
  initImage: busybox:1.36@sha256:%s
dImage:
  repository: acme/d:3.0
e:
  image: {tag: only}
f:
  image: "{{ .Values.x }}"
""" % ("a" * 64)
    got = [(s.name, s.ref.tag, s.ref.digest is not None, s.line) for s in
           find_sites(text, "values.yaml")]
    assert got == [("quay.io/x/y", "v1", False, 2), ("acme/w", "2", False, 5),
                   ("busybox", "1.36", True, 7), ("acme/d", "3.0", False, 9)]


def test_manifest_containers_everywhere() -> None:
    text = """\
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: i, image: "busybox:1"}]
          containers:
          - name: c
            image: app:2
          ephemeralContainers:
          - {name: e, image: dbg}
---
kind: NotAnObject
containers: [{image: ignored:1}]
"""
    sites = find_sites(text, "cron.yaml")
    assert [(s.kind, s.name, s.ref.tag) for s in sites] == [
        (Kind.MANIFEST, "busybox", "1"), (Kind.MANIFEST, "app", "2"),
        (Kind.MANIFEST, "dbg", None)]  # the second document is no object, nor values
    assert [s.kind for s in find_sites(text, "cron-values.yaml")][-1] is Kind.HELM
    assert sites[1].yaml_path == ("spec", "jobTemplate", "spec", "template", "spec",
                                  "containers", 0, "image")


def test_span_type_is_frozen() -> None:
    span = Span(start=0, end=1, line=1, column=1, style="")
    with pytest.raises(AttributeError):
        span.start = 2  # type: ignore[misc]


@pytest.mark.parametrize(("text", "want"), [
    # the entry ends in a block scalar: the new key goes before the next entry
    ("images:\n- name: app\n  note: |\n    hi\n\n- name: b\n  newTag: \"1\"\n",
     "images:\n- name: app\n  note: |\n    hi\n\n  newTag: \"2\"\n- name: b\n  newTag: \"1\"\n"),
    # no final newline: none is added
    ("images:\n- name: app", "images:\n- name: app\n  newTag: \"2\""),
    # CRLF stays CRLF
    ("images:\r\n  - name: app # c\r\n", "images:\r\n  - name: app # c\r\n    newTag: \"2\"\r\n"),
])
def test_added_key_lands_in_its_entry(text: str, want: str) -> None:
    site = find_sites(text, "kustomization.yaml")[0]
    assert apply_changes(text, "kustomization.yaml", [Change(site=site, tag="2")]) == want


def test_argocd_kustomize_image_keeps_its_match_name() -> None:
    text = ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n"
            "    kustomize:\n      images:\n      - ghcr.io/a/app=ghcr.io/b/app:1.0\n")
    (site,) = find_sites(text, "app.yaml")
    new = apply_changes(text, "app.yaml", [Change(site=site, tag="2.0",
                                                  new_name="ghcr.io/c/app")])
    assert new == text.replace("ghcr.io/b/app:1.0", "ghcr.io/c/app:2.0")


def test_kustomize_site_knows_the_deployed_image() -> None:
    text = "images:\n- name: app\n  newName: ghcr.io/acme/app\n  newTag: '2'\n- name: db\n"
    app, db = find_sites(text, "kustomization.yaml")
    assert (app.name, str(app.ref), str(app.deployed)) == (
        "app", "docker.io/library/app:2", "ghcr.io/acme/app:2")
    assert db.deployed == db.ref and db.line == 5


@pytest.mark.parametrize(("text", "want"), [
    ('es:\n  image: "docker.elastic.co/es"\n  imageTag: "8.5.1"\n',
     'es:\n  image: "docker.elastic.co/es"\n  imageTag: "9.0"\n'),
    ('tabix:\n  image: "spoonest/tabix"\n  imageVersion: "stable"\n',
     'tabix:\n  image: "spoonest/tabix"\n  imageVersion: "9.0"\n'),
    ('x:\n  image: acme/x\n  imageDigest: ""\n',  # the missing tag key is named like its shape
     'x:\n  image: acme/x\n  imageDigest: ""\n  imageTag: "9.0"\n'),
])
def test_image_beside_image_tag(text: str, want: str) -> None:
    (site,) = find_sites(text, "values.yaml")
    assert apply_changes(text, "values.yaml", [Change(site=site, tag="9.0")]) == want


def test_version_as_tag_under_an_image_key() -> None:
    text = ("coreImage:\n  registry: docker.io\n  repository: bitnami/harbor-core\n"
            "  version: 2.1.3-debian-10-r38\nchart:\n  repository: acme/x\n  version: 1.0.0\n")
    (site,) = find_sites(text, "values.yaml")  # "chart" is no image key: its version no tag
    assert (site.name, site.ref.tag, site.line) == ("docker.io/bitnami/harbor-core",
                                                    "2.1.3-debian-10-r38", 4)
    assert apply_changes(text, "values.yaml", [Change(site=site, tag="2.2.0")]) == \
        text.replace("2.1.3-debian-10-r38", "2.2.0")


def test_an_edit_of_several_files_writes_all_or_none(tmp_path: Path) -> None:
    """The second file cannot be staged (its directory is gone): the first keeps its bytes
    and no temporary file is left behind."""
    from promoter.edit.files import write_all

    first = tmp_path / "a" / "values.yaml"
    first.parent.mkdir()
    first.write_bytes(b"image:\r\n  tag: '1.0'  # pinned\r\n")
    first.chmod(0o640)
    missing = tmp_path / "gone" / "values.yaml"
    with pytest.raises(OSError) as e:
        write_all([(str(first), "image:\r\n  tag: '2.0'  # pinned\r\n", None),
                   (str(missing), "x: 1\n", None)])
    assert e.value.filename == str(missing)
    assert first.read_bytes() == b"image:\r\n  tag: '1.0'  # pinned\r\n"
    assert sorted(p.name for p in first.parent.iterdir()) == ["values.yaml"]

    write_all([(str(first), "image:\r\n  tag: '2.0'  # pinned\r\n", None)])
    assert first.read_bytes() == b"image:\r\n  tag: '2.0'  # pinned\r\n"
    assert first.stat().st_mode & 0o777 == 0o640


def test_a_failed_replace_puts_back_the_files_already_replaced(tmp_path: Path) -> None:
    """Staging works for both, but the second target is a directory, so replacing it fails
    after the first file was replaced: the first gets its old text back."""
    from promoter.edit.files import write_all

    first = tmp_path / "values.yaml"
    first.write_text("tag: a\n")
    second = tmp_path / "kustomization.yaml"
    second.mkdir()
    with pytest.raises(OSError):
        write_all([(str(first), "tag: b\n", "tag: a\n"), (str(second), "x: 1\n", None)])
    assert first.read_text() == "tag: a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kustomization.yaml", "values.yaml"]
