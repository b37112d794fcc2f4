"""Every file of tests/testdata/corpus/ (sources in its SOURCES.tsv): find every reference,
and edit each one byte-exactly.

For each file, for each site ``find_sites`` reports, set a new tag (a new digest when the site
has only a digest) and check that exactly that value's characters changed: everything before
and after its span is identical and the result re-parses to a tree where only that value moved
(the engine's verifier proves the tree; this test checks the bytes and reads the value back).

Recall is measured against ``corpus_expected.json``: the lines of every tagged image reference
a human reader sees, built without the engine (see its ``about``). Shapes the finders miss are
listed in :data:`KNOWN_GAPS` and those files (only those) are strict xfails, so the gap stays
visible and a fix shows up as an XPASS to clean up. The run prints found/expected per category.
"""

from __future__ import annotations

import collections
import functools
import json
from pathlib import Path

import pytest

from promoter.edit.engine import apply_changes, find_sites
from promoter.edit.model import Change, Site, Span
from promoter.errors import InputError

HERE = Path(__file__).parent
CORPUS = HERE.parent / "testdata" / "corpus"
_TRUTH = json.loads((HERE / "corpus_expected.json").read_text(encoding="utf-8"))
EXPECTED: dict[str, list[int]] = _TRUTH["files"]
# real files added after the finders of round 2 were written, never tuned on
HELDOUT: list[str] = _TRUTH["heldout"]
CATEGORIES = ("kustomize", "helm-values", "manifests", "flux-markers", "argocd", "compose",
              "crds")
NEW_TAG = "9.8.7-promoter"
NEW_DIGEST = "sha256:" + "f00d" * 16

# Shapes the finders do not report yet: file -> (missed lines, why). Found by this test; when a
# finder learns one, its files fail here until their entry is removed.
_TAG_ONLY = "Helm 'image: {tag: ...}' without a repository (the chart supplies the name)"
_GLOBAL = "Helm 'global.imageTag' beside 'imageRegistry' (one tag for every component)"
KNOWN_GAPS: dict[str, tuple[list[int], str]] = {
    "helm-values/AuraBit__athena-gitops__charts__athena__values-prod.yaml": ([5, 23], _TAG_ONLY),
    "helm-values/jetstack__cert-manager__test__fixtures__cert-manager-values.yaml":
        ([9, 28, 41], _TAG_ONLY),
    "helm-values/Kong__charts__charts__kong-operator__ci__"
    "image-pull-secrets-and-image-digest-values.yaml": ([3], _TAG_ONLY),
    "helm-values/kubeflow__manifests__experimental__helm__charts__model-registry__values.yaml":
        ([21], _GLOBAL),
    "helm-values/kubeflow__manifests__experimental__helm__charts__notebook-controller__"
    "values.yaml": ([22], _GLOBAL),
}
# Invalid YAML (invalid/ holds the files ruamel.yaml rejects; one more in kustomize/ has a
# duplicate key): each must give a one-line file:line:col error, and none is counted for recall.
INVALID = {
    "kustomize/rhn-gls-rtaniguchi__kustomize-done-properly__overlays__prod__kustomization.yml":
        "duplicate key 'namespace'",
    "invalid/1103461933__mi-app-infra__helm__mi-app__values-prod.yaml": "duplicate key 'image'",
    "invalid/renovatebot__renovate__lib__modules__manager__argocd____fixtures____"
    "validApplication.yml": "a Helm template directive",
    "invalid/tasty-savings__ts-infra__overlays__dev__kustomization.yml": "a merge conflict",
}


def _read(rel: str) -> str:
    return (CORPUS / rel).read_bytes().decode("utf-8")


def _lines_of(text: str, span: Span) -> range:
    """The lines a span covers (a block scalar spans several)."""
    last = span.line + text.count("\n", span.start, max(span.start, span.end - 1))
    return range(span.line, last + 1)


def covered_lines(text: str, sites: tuple[Site, ...]) -> set[int]:
    out: set[int] = set()
    for site in sites:
        for span in (site.tag, site.whole, site.name_span, site.digest, site.at):
            if span is not None:
                out.update(_lines_of(text, span))
    return out


def _change_for(site: Site) -> tuple[Change, Span] | None:
    """A change that rewrites exactly one existing value of the site, and that value's span."""
    if site.tag is not None:
        return Change(site=site, tag=NEW_TAG), site.tag
    if site.whole is not None:
        return Change(site=site, tag=NEW_TAG), site.whole
    if site.digest is not None:
        return Change(site=site, digest=NEW_DIGEST), site.digest
    return None  # only a name: a tag would be a new key, which test_kustomize covers


def changed_region(old: str, new: str) -> tuple[int, int]:
    """``(start, end)`` in ``old`` of the one stretch that differs from ``new``."""
    n = min(len(old), len(new))
    start = 0
    while start < n and old[start] == new[start]:
        start += 1
    end = 0
    while end < n - start and old[len(old) - 1 - end] == new[len(new) - 1 - end]:
        end += 1
    return start, len(old) - end


def check_edit(text: str, rel: str, site: Site) -> None:
    planned = _change_for(site)
    if planned is None:
        return
    change, span = planned
    new = apply_changes(text, rel, [change])
    # an empty value ("tag:" or "tag:  # comment") is written after the one space it keeps
    hi = span.end + 1 if span.start == span.end and text[span.end:span.end + 1] == " " \
        else span.end
    start, end = changed_region(text, new)
    assert span.start <= start and end <= hi, \
        f"{rel}:{site.line}: changed {start}..{end}, outside the value at {span.start}..{hi}"
    written = new[span.start:len(new) - (len(text) - hi)]
    assert (NEW_DIGEST if change.digest else NEW_TAG) in written, written
    # read back: the edited file has a site at the same place holding the new value
    again = [s for s in find_sites(new, rel) if s.line == site.line and s.kind == site.kind]
    assert any(s.ref.tag == NEW_TAG or s.ref.digest == NEW_DIGEST for s in again), \
        f"{rel}:{site.line}: the new value does not read back"


@pytest.mark.parametrize("rel", list(EXPECTED))
def test_corpus_file(rel: str) -> None:
    text = _read(rel)
    sites = find_sites(text, rel)
    for site in sites:
        assert site.file == rel
        check_edit(text, rel, site)
    missing = sorted(set(EXPECTED[rel]) - covered_lines(text, sites))
    gap, why = KNOWN_GAPS.get(rel, ([], ""))
    assert missing == gap, f"{rel}: no site covers lines {missing} (known gaps: {gap})"
    if gap:
        pytest.xfail(f"finders miss lines {gap}: {why}")


@pytest.mark.parametrize("rel", list(INVALID))
def test_invalid_files_give_one_line_errors(rel: str) -> None:
    text = _read(rel)
    with pytest.raises(InputError) as err:
        find_sites(text, rel)
    message = str(err.value)
    assert message.startswith(f"{rel}:") and "\n" not in message
    line, col = message[len(rel) + 1:].split(":")[:2]
    assert line.isdigit() and col.isdigit()


def test_corpus_inventory_matches_the_ground_truth() -> None:
    """Every corpus file has an entry, so a new file cannot slip past the recall count."""
    corpus = CORPUS
    files = {str(p.relative_to(corpus)) for p in corpus.glob("*/*") if p.suffix in
             (".yaml", ".yml")}
    assert files - set(INVALID) == set(EXPECTED)


@functools.cache
def recall(files: tuple[str, ...] = tuple(EXPECTED)) -> dict[str, tuple[int, int]]:
    """found/expected references per category, over ``files``."""
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for rel in files:
        lines = EXPECTED[rel]
        text = _read(rel)
        covered = covered_lines(text, find_sites(text, rel))
        c = counts[rel.split("/")[0]]
        c[0] += sum(1 for line in lines if line in covered)
        c[1] += len(lines)
    return {k: (counts[k][0], counts[k][1]) for k in CATEGORIES if k in counts}


def _print(title: str, got: dict[str, tuple[int, int]]) -> None:
    print(f"\n{title} (found/expected):")
    for k, (found, total) in got.items():
        print(f"  {k:13} {found:4}/{total:<4} {found / total:6.1%}")
    found = sum(f for f, _ in got.values())
    total = sum(t for _, t in got.values())
    print(f"  {'all':13} {found:4}/{total:<4} {found / total:6.1%}")


def test_recall_per_category(capsys: pytest.CaptureFixture[str]) -> None:
    """Found/expected per category equals the ground truth minus exactly the known gaps."""
    got = recall()
    gaps: collections.Counter[str] = collections.Counter()
    for rel, (lines, _) in KNOWN_GAPS.items():
        gaps[rel.split("/")[0]] += len(lines)
    with capsys.disabled():
        _print("corpus recall", got)
    assert {k: t - f for k, (f, t) in got.items() if t - f} == {
        k: n for k, n in gaps.items() if n}


def test_heldout_recall_is_at_least_99_percent_in_every_category(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The files kept out of tuning: every category they cover reaches 99%."""
    assert HELDOUT and set(HELDOUT) <= set(EXPECTED)
    got = recall(tuple(HELDOUT))
    with capsys.disabled():
        _print("held-out recall", got)
    assert {k: f"{f}/{t}" for k, (f, t) in got.items() if f < 0.99 * t} == {}


def test_recall_is_well_over_95_percent() -> None:
    got = recall()
    found = sum(f for f, _ in got.values())
    total = sum(t for _, t in got.values())
    assert found / total >= 0.97, f"{found}/{total}"
