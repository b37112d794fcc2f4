"""plan + poll over in-memory ports: a MemoryRegistry and a MemoryWorkspace (real flow code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoter.config import parse_config
from promoter.flows.poll import make_plan, poll
from promoter.gitrepo import MemoryWorkspace
from promoter.registry.memory import MemoryRegistry

OLD = "sha256:" + "1" * 64

FILES = {
    "dev/kustomization.yaml": (
        "images:\n"
        "  - name: ghcr.io/acme/api\n"
        "    newTag: 1.0.0\n"
        "  - name: ghcr.io/acme/web\n"
        "    newTag: '2.0.0'\n"),
    "dev/values.yaml": (
        "# cache pinned by digest\n"
        "cache:\n"
        "  image:\n"
        "    repository: docker.io/library/redis\n"
        "    tag: 7-alpine\n"
        f"    digest: {OLD}\n"
        "worker:\n"
        "  tag: 3.0.0   # the worker image is named in the chart\n"),
    "prod/kustomization.yaml": (
        "images:\n"
        "  - name: ghcr.io/acme/api\n"
        "    newTag: 1.0.0\n"),
}


def config(extra: str = "") -> str:
    return f"""\
environments:
  - {{name: dev, paths: [dev]}}
  - {{name: prod, paths: [prod]}}
images:
  - {{name: api, repository: ghcr.io/acme/api}}
  - {{name: web, repository: ghcr.io/acme/web, policy: {{semver: "~2.0"}}}}
  - name: cache
    repository: redis
    policy: {{strategy: digest}}
  - name: worker
    repository: ghcr.io/acme/worker
    targets:
      dev: [{{file: dev/values.yaml, key: worker.tag}}]
  - {{name: ghost, repository: ghcr.io/acme/ghost}}
{extra}"""


@pytest.fixture
def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for tag in ("1.0.0", "1.0.1", "1.1.0", "2.0.0-rc.1"):
        reg.push(f"ghcr.io/acme/api:{tag}")
    for tag in ("2.0.0", "2.0.3", "2.1.0"):
        reg.push(f"ghcr.io/acme/web:{tag}")
    for tag in ("3.0.0", "3.0.1"):
        reg.push(f"ghcr.io/acme/worker:{tag}")
    reg.push("redis:7-alpine", digest="sha256:" + "2" * 64,
             created=datetime(2026, 11, 1, tzinfo=UTC))
    return reg


def test_plan_moves_each_image_in_the_tracked_environment_only(registry: MemoryRegistry
                                                                ) -> None:
    ws = MemoryWorkspace({**FILES, ".promoter.yaml": config()})
    plan, errors, _ = make_plan(parse_config(config()), ws, registry)
    assert tuple(map(str, errors)) == ("ghost: not found in dev",)
    by_branch = {pr.branch: pr for pr in plan.pull_requests}
    assert sorted(by_branch) == ["promoter/dev/api", "promoter/dev/cache", "promoter/dev/web",
                                 "promoter/dev/worker"]
    api = by_branch["promoter/dev/api"]
    assert [(u.old_tag, u.new_tag, u.update.value) for u in api.updates] == [
        ("1.0.0", "1.1.0", "minor")]
    assert api.files["dev/kustomization.yaml"] == FILES["dev/kustomization.yaml"].replace(
        "newTag: 1.0.0", "newTag: 1.1.0")
    web = by_branch["promoter/dev/web"].files["dev/kustomization.yaml"]
    assert "newTag: '2.0.3'" in web  # ~2.0 stops before 2.1.0; the quotes stay
    cache = by_branch["promoter/dev/cache"].files["dev/values.yaml"]
    assert cache == FILES["dev/values.yaml"].replace(OLD, "sha256:" + "2" * 64)
    worker = by_branch["promoter/dev/worker"].files["dev/values.yaml"]
    assert "  tag: 3.0.1   # the worker image is named in the chart\n" in worker
    assert all("prod/" not in f for pr in plan.pull_requests for f in pr.files)


def test_group_per_environment_makes_one_branch(registry: MemoryRegistry) -> None:
    text = config("pull-requests:\n  group: environment\n")
    ws = MemoryWorkspace({**FILES, ".promoter.yaml": text})
    plan, _, _ = make_plan(parse_config(text), ws, registry)
    assert [(pr.branch, pr.title) for pr in plan.pull_requests] == [
        ("promoter/dev", "Promote 4 images to dev")]
    files = plan.pull_requests[0].files
    assert "newTag: 1.1.0" in files["dev/kustomization.yaml"]
    assert "newTag: '2.0.3'" in files["dev/kustomization.yaml"]


def test_a_failing_repository_never_stops_the_others(registry: MemoryRegistry) -> None:
    registry.fail("ghcr.io/acme/web", "registry said 500 three times")
    ws = MemoryWorkspace({**FILES, ".promoter.yaml": config()})
    report = poll(parse_config(config()), ws, registry, None)
    assert "web: registry said 500 three times" in map(str, report.errors)
    assert not report.ok
    assert {r.branch for r in report.results} == {
        "promoter/dev/api", "promoter/dev/cache", "promoter/dev/worker"}
    assert ws.read("promoter/dev/api", "dev/kustomization.yaml") == \
        FILES["dev/kustomization.yaml"].replace("newTag: 1.0.0", "newTag: 1.1.0")
    # idempotent: a second poll publishes nothing new
    again = poll(parse_config(config()), ws, registry, None)
    assert {r.outcome for r in again.results} == {"unchanged"}
    assert set(again.phases) >= {"locate", "registry", "edit", "git"}


def test_min_age_waits_for_a_young_tag_and_takes_an_old_enough_one(
        registry: MemoryRegistry) -> None:
    """api 1.1.0 was built an hour ago, 1.0.1 ten days ago: with min-age 3d the plan moves api
    to 1.0.1 and leaves 1.1.0 for a later poll."""
    now = datetime.now(UTC)
    registry.push("ghcr.io/acme/api:1.0.1", created=now - timedelta(days=10))
    registry.push("ghcr.io/acme/api:1.1.0", created=now - timedelta(hours=1))
    text = config().replace("{name: api, repository: ghcr.io/acme/api}",
                            "{name: api, repository: ghcr.io/acme/api, policy: {min-age: 3d}}")
    cfg = parse_config(text)
    assert cfg.image("api").policy.min_age == timedelta(days=3)
    ws = MemoryWorkspace({**FILES, ".promoter.yaml": text})
    plan, errors, _ = make_plan(cfg, ws, registry)
    assert tuple(map(str, errors)) == ("ghost: not found in dev",)
    api = next(pr for pr in plan.pull_requests if pr.branch == "promoter/dev/api")
    assert [(u.old_tag, u.new_tag) for u in api.updates] == [("1.0.0", "1.0.1")]
