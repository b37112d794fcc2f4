"""The sample GitOps tree in examples/gitops (README and demo use it) stays editable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promoter.edit import Kind, find_in_paths, set_image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def test_every_pin_is_found() -> None:
    sites, problems = find_in_paths([str(EXAMPLE)])
    assert problems == ()
    by_kind = {k: sorted((Path(s.file).relative_to(EXAMPLE).as_posix(), s.name, s.ref.tag)
                         for s in sites if s.kind is k) for k in Kind}
    assert by_kind[Kind.KUSTOMIZE] == [
        (f"overlays/{env}/kustomization.yaml", f"ghcr.io/acme/{app}", tag)
        for env, tag in (("dev", "1.4.0"), ("prod", "1.3.1"), ("staging", "1.3.2"))
        for app in ("api", "worker")]
    assert len(by_kind[Kind.MANIFEST]) == 3
    assert [n for _, n, _ in by_kind[Kind.HELM]].count("ghcr.io/acme/web") == 4


@pytest.mark.parametrize("target", ["overlays/dev", "overlays/staging", "overlays/prod",
                                    "charts/web/values-prod.yaml"])
def test_promotion_changes_one_line(target: str, tmp_path: Path) -> None:
    tree = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, tree)
    image = "ghcr.io/acme/web" if "charts" in target else "ghcr.io/acme/api"
    result = set_image([str(tree / target)], image, tag="9.9.9")
    (edit,) = result.changed
    (site,) = [s for s in edit.sites if s.ref.tag]
    old, new = edit.old.splitlines(), edit.new.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert len(changed) == 1
    assert new[changed[0]] == old[changed[0]].replace(site.ref.tag or "", "9.9.9", 1)
