"""Marker comments: Flux ``$imagepolicy`` setters and ``# promoter:`` markers on any scalar."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from promoter.cli import cli
from promoter.edit import apply_changes, find_sites
from promoter.edit.finders import marker
from promoter.edit.model import Change, Field, Kind, Site
from promoter.edit.yamlpos import parse_yaml
from promoter.refs import ImageRef

CORPUS = Path(__file__).parent.parent / "testdata" / "corpus"

DIGEST = "sha256:" + "0123456789abcdef" * 4
PODINFO_DIGEST = "sha256:6c1975b871efb327528c84d46d38e6dd7906eecee6402bc270eeb7f1b1a506df"


def sites(text: str, path: str = "f.yaml") -> list[Site]:
    return list(marker.find(parse_yaml(text, path)))


def spans(text: str, site: Site) -> dict[str, str]:
    """The text under each span of a site, by part."""
    out = {}
    for part in ("whole", "name_span", "tag", "digest"):
        span = getattr(site, part)
        if span is not None:
            out[part] = text[span.start:span.end]
    return out


@pytest.mark.parametrize(("comment", "expected"), [
    (' {"$imagepolicy": "flux-system:app"}', ("flux", "flux-system:app", Field.WHOLE)),
    ('{"$imagepolicy":"ns:app:tag"}', ("flux", "ns:app", Field.TAG)),
    (' {"$imagepolicy": "ns:app:name"} ', ("flux", "ns:app", Field.NAME)),
    (' {"$imagepolicy": "ns:app:digest"}', ("flux", "ns:app", Field.DIGEST)),
    ('# {"$imagepolicy": "ns:app"}', ("flux", "ns:app", Field.WHOLE)),  # "##": kyaml trims all
    (' {"$imagepolicy": "ns:app", "other": "x"}', ("flux", "ns:app", Field.WHOLE)),
    (" promoter: ghcr.io/org/app", ("promoter", "ghcr.io/org/app", Field.WHOLE)),
    (" promoter: ghcr.io/org/app:tag", ("promoter", "ghcr.io/org/app", Field.TAG)),
    (" promoter: ghcr.io/org/app:name", ("promoter", "ghcr.io/org/app", Field.NAME)),
    (" promoter: ghcr.io/org/app:digest", ("promoter", "ghcr.io/org/app", Field.DIGEST)),
    (" promoter: localhost:5000/app:tag", ("promoter", "localhost:5000/app", Field.TAG)),
    (" promoter: localhost:5000/app", ("promoter", "localhost:5000/app", Field.WHOLE)),
    (" promoter: nginx:1.25", ("promoter", "nginx", Field.WHOLE)),  # a version is dropped
    ("promoter:nginx", ("promoter", "nginx", Field.WHOLE)),
    # not markers
    (' {"$imagepolicy": "app"}', None),  # Flux always writes namespace:name
    (' {"$imagepolicy": "ns:app:version"}', None),
    (' {"$imagepolicy": "ns:app:tag:x"}', None),
    (' {"$imagepolicy": ""}', None),
    (' {"$imagepolicy": 3}', None),  # kyaml reads a map of strings
    (' {"$imagepolicy": "ns:app"} trailing', None),
    (" {$imagepolicy: ns:app}", None),
    (" promoter: Not An Image", None),
    (" promoter: org/UPPER", None),
    (" just a comment", None),
    (" promoter:", None),
])
def test_parse_marker(comment: str, expected: tuple[str, str, Field] | None) -> None:
    got = marker.parse_marker(comment)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got.grammar.value, got.key, got.field) == expected


FLUX_DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: app
        image: ghcr.io/org/app:1.2.3 # {{"$imagepolicy": "flux-system:app"}}
      - name: side
        image: "nginx:1.25@{DIGEST}"  # {{"$imagepolicy": "flux-system:nginx"}}
"""


def test_flux_whole_markers_name_the_image_of_the_value() -> None:
    found = sites(FLUX_DEPLOYMENT)
    assert [(s.kind, s.name, str(s.ref), s.line) for s in found] == [
        (Kind.MARKER, "ghcr.io/org/app", "ghcr.io/org/app:1.2.3", 8),
        (Kind.MARKER, "nginx", "docker.io/library/nginx:1.25@" + DIGEST,
         10),
    ]
    assert spans(FLUX_DEPLOYMENT, found[0]) == {"whole": "ghcr.io/org/app:1.2.3"}
    assert spans(FLUX_DEPLOYMENT, found[1])["whole"].startswith('"nginx:1.25@')
    assert found[0].yaml_path == ("spec", "template", "spec", "containers", 0, "image")


HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: 6.5.3 # {"$imagepolicy": "flux-system:podinfo:tag"}
    other:
      tag: "2.0" # {"$imagepolicy": "flux-system:other:tag"}
    chart:
      version: 5.0.0 # {"$imagepolicy": "flux-system:chart:tag"}
"""


def test_flux_name_and_tag_markers_of_one_policy_make_one_site() -> None:
    found = sites(HELMRELEASE)
    assert [(s.name, str(s.ref), s.line) for s in found] == [
        ("ghcr.io/stefanprodan/podinfo", "ghcr.io/stefanprodan/podinfo:6.5.3", 7),
        ("flux-system:other", "$imagepolicy/flux-system:other:2.0", 9),
        ("flux-system:chart", "$imagepolicy/flux-system:chart:5.0.0", 11),
    ]
    assert spans(HELMRELEASE, found[0]) == {"name_span": "ghcr.io/stefanprodan/podinfo",
                                            "tag": "6.5.3"}
    assert spans(HELMRELEASE, found[1]) == {"tag": '"2.0"'}
    assert found[0].yaml_path == ("spec", "values", "image", "tag")


def test_a_tag_only_policy_site_matches_no_image_reference() -> None:
    (site,) = [s for s in sites(HELMRELEASE) if s.name == "flux-system:other"]
    assert site.ref.registry == marker.POLICY_REGISTRY
    assert not site.ref.same_image(ImageRef.parse("flux-system:other"))


def test_a_policy_marker_leaves_a_named_image_to_its_finder() -> None:
    # the name marker is not one (":nope"): the tag belongs to the Helm mapping's image
    text = HELMRELEASE.replace("podinfo:name", "podinfo:nope")
    assert "flux-system:podinfo" not in [s.name for s in sites(text)]
    (site,) = [s for s in find_sites(text, "release.yaml") if s.line == 7]
    assert (site.kind, site.name) == (Kind.HELM, "ghcr.io/stefanprodan/podinfo")


KUSTOMIZATION = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo # {{"$imagepolicy": "flux-system:podinfo:name"}}
  newTag: 6.8.0 # {{"$imagepolicy": "flux-system:podinfo:tag"}}
  digest: "{PODINFO_DIGEST}" # {{"$imagepolicy": "flux-system:podinfo:digest"}}
- name: other
  newTag: v1 # {{"$imagepolicy": "flux-system:podinfo:tag"}}
"""


def test_parts_group_per_mapping_not_per_file() -> None:
    found = sites(KUSTOMIZATION)
    # the second entry's tag marker is left to the Kustomize finder, which names the image
    assert [(s.name, s.line) for s in found] == [("ghcr.io/stefanprodan/podinfo", 6)]
    assert [(s.kind, s.name, s.line) for s in find_sites(KUSTOMIZATION, "kustomization.yaml")
            ] == [(Kind.MARKER, "ghcr.io/stefanprodan/podinfo", 6), (Kind.KUSTOMIZE, "other", 9)]
    assert spans(KUSTOMIZATION, found[0]) == {
        "name_span": "ghcr.io/stefanprodan/podinfo", "tag": "6.8.0",
        "digest": f'"{PODINFO_DIGEST}"'}
    assert found[0].ref.digest == PODINFO_DIGEST


COMPOSE = f"""\
services:
  web:
    image: ghcr.io/org/web:1.4.0   # promoter: ghcr.io/org/web
    environment:
      WEB_VERSION: "1.4.0"  # promoter: ghcr.io/org/web:tag
  db:
    image: postgres:16.1 # promoter: postgres
  cache:
    image: redis:7 # promoter: docker.io/library/redis
x-pins:
  repo: ghcr.io/org/worker  # promoter: ghcr.io/org/worker:name
  version: 2.0.1            # promoter: ghcr.io/org/worker:tag
  pin: {DIGEST} # promoter: ghcr.io/org/worker:digest
"""


def test_promoter_markers_in_a_compose_file() -> None:
    text = COMPOSE
    found = sites(text, "docker-compose.yml")
    assert [(s.name, str(s.ref), s.line) for s in found] == [
        ("ghcr.io/org/web", "ghcr.io/org/web:1.4.0", 3),
        ("ghcr.io/org/web", "ghcr.io/org/web:1.4.0", 5),
        ("postgres", "docker.io/library/postgres:16.1", 7),
        ("docker.io/library/redis", "docker.io/library/redis:7", 9),
        ("ghcr.io/org/worker", "ghcr.io/org/worker:2.0.1@" + DIGEST, 12),
    ]
    assert spans(text, found[1]) == {"tag": '"1.4.0"'}
    assert set(spans(text, found[4])) == {"name_span", "tag", "digest"}
    assert all(s.kind is Kind.MARKER and s.file == "docker-compose.yml" for s in found)


@pytest.mark.parametrize("text", [
    # the marker follows a flow collection, not the scalar (Flux reads it the same way)
    'args: [a, "nginx:1.2"] # promoter: nginx\n',
    'image: {name: nginx:1.2} # promoter: nginx\n',
    # an empty value: the comment belongs to the key
    "image: # promoter: nginx\n  nginx:1.2\n",
    # block scalars carry their comment on the header line
    "image: | # promoter: nginx\n  nginx:1.2\n",
    # a full-line comment marks nothing
    "# promoter: nginx\nimage: nginx:1.2\n",
    # a key's comment is not a value's
    "? image # promoter: nginx\n: nginx:1.2\n",
    # no space before '#': part of the plain scalar
    "image: nginx:1.2#promoter:nginx\n",
])
def test_comments_that_mark_nothing(text: str) -> None:
    assert sites(text) == []


def test_invalid_values_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    text = ("a: ${REGISTRY}/app:1.0 # promoter: ghcr.io/org/app\n"
            "b: not a tag # promoter: ghcr.io/org/app:tag\n"
            "c: not/a:digest # {\"$imagepolicy\": \"ns:p:digest\"}\n"
            "d: v1 # promoter: ghcr.io/org/ok:tag\n")
    with caplog.at_level(logging.WARNING, logger="promoter.edit.finders.marker"):
        found = sites(text, "values.yaml")
    assert [(s.name, s.line) for s in found] == [("ghcr.io/org/ok", 4)]
    assert [r.getMessage().split(": marker skipped")[0] for r in caplog.records] == [
        "values.yaml:1:4", "values.yaml:2:4", "values.yaml:3:4"]


def test_markers_in_sequences_crlf_and_every_document() -> None:
    text = ("---\r\nimages:\r\n  - nginx:1.2 # promoter: nginx\r\n"
            "---\r\nlist:\r\n- 'redis:7' # {\"$imagepolicy\": \"ns:redis\"}\r\n")
    found = sites(text)
    assert [(s.name, s.document, s.line, s.yaml_path) for s in found] == [
        ("nginx", 0, 3, ("images", 0)), ("redis", 1, 6, ("list", 0))]
    assert spans(text, found[1]) == {"whole": "'redis:7'"}


def test_an_anchored_scalar_is_reported_once() -> None:
    text = "a: &v nginx:1.2 # promoter: nginx\nb: *v\n"
    found = sites(text)
    assert [(s.name, s.line) for s in found] == [("nginx", 1)]
    assert spans(text, found[0]) == {"whole": "nginx:1.2"}


# ---- editing through the engine and the CLI --------------------------------------------------


def test_setting_a_tag_keeps_the_marker_comment_and_everything_else() -> None:
    text = COMPOSE.replace("\n", "\r\n")
    web, tag_site = [s for s in find_sites(text, "docker-compose.yml")
                     if s.name == "ghcr.io/org/web"]
    new = apply_changes(text, "docker-compose.yml",
                        [Change(site=web, tag="1.10"), Change(site=tag_site, tag="1.10")])
    assert new == text.replace(
        "image: ghcr.io/org/web:1.4.0   # promoter",
        "image: ghcr.io/org/web:1.10   # promoter").replace(
        'WEB_VERSION: "1.4.0"  # promoter', 'WEB_VERSION: "1.10"  # promoter')


def test_a_plain_flux_tag_that_would_read_as_a_number_gets_quoted() -> None:
    (chart,) = [s for s in find_sites(HELMRELEASE, "release.yaml")
                if s.name == "flux-system:chart"]
    new = apply_changes(HELMRELEASE, "release.yaml", [Change(site=chart, tag="5.10")])
    assert new == HELMRELEASE.replace('version: 5.0.0 #', 'version: "5.10" #')


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result.output


def test_find_images_names_marker_sites_and_set_image_reaches_them_by_that_name(
        tmp_path: Path) -> None:
    root = tmp_path
    (root / "release.yaml").write_text(HELMRELEASE)
    (root / "docker-compose.yml").write_text(COMPOSE)
    code, out = _cli("find-images", str(root), "--output", "json")
    assert code == 0
    found = {(Path(o["file"]).name, o["line"], o["kind"], o["name"], o["tag"])
             for o in json.loads(out)["images"] if o["kind"] == "marker"}
    assert ("release.yaml", 9, "marker", "flux-system:other", "2.0") in found
    assert ("docker-compose.yml", 5, "marker", "ghcr.io/org/web", "1.4.0") in found

    # a policy-named site: only the policy reference reaches it
    code, _ = _cli("set-image", str(root), "--image", "flux-system:other", "--tag", "2.1")
    assert code == 0
    assert (root / "release.yaml").read_text() == HELMRELEASE.replace(
        'tag: "2.0" #', 'tag: "2.1" #')
    # an image-named marker: the name or any equivalent reference reaches every marked scalar
    code, _ = _cli("set-image", str(root), "--image", "ghcr.io/org/web:0.1", "--tag", "1.5.0")
    assert code == 0
    assert (root / "docker-compose.yml").read_text() == COMPOSE.replace(
        "web:1.4.0", "web:1.5.0").replace('"1.4.0"', '"1.5.0"')
    code, _ = _cli("set-image", str(root), "--image", "docker.io/library/postgres",
                   "--tag", "16.2")
    assert code == 0
    assert "image: postgres:16.2 # promoter: postgres" in (root / "docker-compose.yml").read_text()


FLUX_TESTDATA = "flux-markers/fluxcd__image-automation-controller__internal__update__testdata__" \
    "setters__{}__kustomization.yml"


def test_flux_setters_testdata_gives_fluxs_expected_output() -> None:
    """Flux's own before/after pair (image-automation-controller ``testdata/setters``): the same
    updates, chosen by the names find-images reports, give Flux's expected file byte for byte."""
    rel = FLUX_TESTDATA.format("original")
    text = (CORPUS / rel).read_bytes().decode()
    expected = (CORPUS / FLUX_TESTDATA.format("expected")).read_bytes().decode()
    digest = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"
    by_name = {s.name: s for s in find_sites(text, rel)}
    assert sorted(by_name) == ["automation-ns:policy-with-digest", "image", "replaced"]
    changes = [
        Change(site=by_name["replaced"], new_name="index.repo.fake/updated", tag="v1.0.1"),
        Change(site=by_name["automation-ns:policy-with-digest"], digest=digest),
        Change(site=by_name["image"], tag="v1.0.0", digest=digest),
    ]
    assert apply_changes(text, rel, changes) == expected
