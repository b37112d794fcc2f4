"""Golden before/after trees: set-image on a copy of ``before/`` must give ``after/`` byte for byte.

Each case is ``tests/testdata/edit/<kind>/<case>/{before,after}/...`` plus ``change.yaml``
(``image``, ``tag``, ``digest``, ``new_name``, ``helm_paths``, ``include_untagged``, ``paths``
relative to the tree).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from promoter.edit import set_image

DATA = Path(__file__).resolve().parent.parent / "testdata" / "edit"
# chart versions are not set-image's (tests/edit/test_chart_golden.py runs those cases)
CASES = sorted(p.parent for p in DATA.glob("*/*/change.yaml") if p.parent.parent.name != "chart")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_there_are_cases_of_each_kind() -> None:
    kinds = {c.parent.name for c in CASES}
    assert {"kustomize", "helm", "manifest"} <= kinds
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_golden(case: Path, tmp_path: Path) -> None:
    change = yaml.safe_load((case / "change.yaml").read_text())
    work = tmp_path / "tree"
    shutil.copytree(case / "before", work)
    paths = [str(work / p) for p in change.get("paths", ["."])]
    result = set_image(paths, change["image"], tag=change.get("tag"),
                       digest=change.get("digest"), new_name=change.get("new_name"),
                       helm_paths=change.get("helm_paths", ()),
                       include_untagged=change.get("include_untagged", False))
    assert result.written
    want, got = _tree(case / "after"), _tree(work)
    assert sorted(got) == sorted(want), "missing or extra files"
    different = [name for name in want if want[name] != got[name]]
    assert not different, "\n".join(
        f"{n}:\n--- want\n{want[n]!r}\n--- got\n{got[n]!r}" for n in different)
    # a second run finds everything up to date and writes nothing
    again = set_image(paths, change.get("new_name") or change["image"], tag=change.get("tag"),
                      digest=change.get("digest"), new_name=change.get("new_name"),
                      helm_paths=change.get("helm_paths", ()))
    assert not again.changed and not again.written
