"""Golden before/after trees for chart versions (``tests/testdata/edit/chart/<case>``).

``change.yaml`` gives ``chart``, ``repository`` and ``version``. The case's tree is read as
one environment of a config with that chart under ``charts:`` (discovered in the whole tree),
located and planned as ``poll`` does; the planned texts must equal ``after/`` byte for byte,
and planning again on ``after/`` must change nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from promoter.config import parse_config
from promoter.edit.model import Kind
from promoter.plan import Wanted, locate, plan_updates
from promoter.versions import UpdateType

DATA = Path(__file__).resolve().parent.parent / "testdata" / "edit" / "chart"
CASES = sorted(p.parent for p in DATA.glob("*/change.yaml"))


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_bytes().decode()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _plan(change: dict[str, str], tree: dict[str, str]) -> tuple[dict[str, str], int]:
    cfg = parse_config(
        "environments: [{name: dev, paths: ['**']}]\n"
        f"charts: [{{chart: {change['chart']}, repository: '{change['repository']}'}}]\n")
    image = cfg.images[0]
    loc = locate(image, "dev", tuple(tree), tree.get)
    assert not loc.problems
    assert all(p.site.kind is Kind.CHART for p in loc.pins)
    plan = plan_updates(cfg, [(loc, Wanted(tag=str(change["version"])), UpdateType.MINOR)],
                        read=tree.get)
    assert not plan.skipped
    files = {p: t for pr in plan.pull_requests for p, t in pr.files.items()}
    return files, len(loc.pins)


def test_there_is_a_case_per_shape() -> None:
    assert len(CASES) >= 4


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_chart_golden(case: Path) -> None:
    change = yaml.safe_load((case / "change.yaml").read_text())
    before, after = _tree(case / "before"), _tree(case / "after")
    files, pins = _plan(change, before)
    assert pins >= 1
    want = {p: t for p, t in after.items() if before.get(p) != t}
    assert files == want
    again, _ = _plan(change, after)
    assert again == {}
