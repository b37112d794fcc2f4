"""Loading valid files: defaults, the full example, freeze windows, templates, shards, paths."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.config import (
    Auto,
    Config,
    DiscoverTarget,
    FileTarget,
    ForgeType,
    FreezeWindow,
    Group,
    Identity,
    Image,
    KeyTarget,
    load_config,
    parse_config,
    read_secret,
    render_template,
    template_fields,
)
from promoter.edit.model import Kind
from promoter.errors import ConfigError, InputError
from promoter.refs import ImageRef
from promoter.secrets import redact
from promoter.versions import UpdateType

ROOT = Path(__file__).resolve().parent.parent.parent
FULL = ROOT / "examples" / "config" / "full.promoter.yaml"

MINIMAL = """\
environments:
  - {name: dev, paths: [overlays/dev]}
  - {name: staging, paths: [overlays/staging]}
  - {name: prod, paths: [overlays/prod]}
images:
  - repository: ghcr.io/acme/api
    policy: {semver: "^1.2"}
  - repository: nginx
"""


def test_a_ten_line_file_gets_sensible_defaults() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.env_names == ("dev", "staging", "prod")
    assert [e.track for e in cfg.environments] == [True, False, False]
    assert [e.branch for e in cfg.environments] == ["main"] * 3
    assert cfg.tracking == (cfg.environments[0],)
    api, nginx = cfg.images
    assert (api.name, nginx.name) == ("api", "nginx")
    assert nginx.repository == ImageRef(registry="docker.io", repository="library/nginx")
    assert api.policy.strategy == "semver" and api.policy.range == "^1.2"
    assert nginx.policy.range is None and not nginx.policy.prerelease
    assert api.discovered
    assert api.targets_for("staging") == (DiscoverTarget(paths=("overlays/staging",)),)
    assert api.environments == ("dev", "staging", "prod")
    assert cfg.forge.type is ForgeType.LOCAL and cfg.forge.base_branch == "main"
    prs = cfg.pull_requests
    assert (prs.branch, prs.title, prs.body, prs.group) == (
        "promoter/{env}/{image}", "Promote {image} to {version} in {env}", None, Group.IMAGE)
    assert prs.labels == ("promoter",) and not prs.auto_merge and not prs.draft
    assert cfg.commit.author == Identity(name="promoter", email="promoter@noreply.invalid")
    assert cfg.commit.message == "{title}" and not cfg.commit.sign_off
    gates = cfg.environments[2].gates
    assert (gates.auto, gates.soak, gates.min_approvals, gates.hold_label) == (
        Auto.ALL, None, 0, "promoter/hold")
    assert cfg.previous("staging") == cfg.environments[0] and cfg.previous("dev") is None
    assert [(a.name, b.name) for a, b in cfg.steps()] == [("dev", "staging"),
                                                          ("staging", "prod")]


def test_the_full_example_loads() -> None:
    cfg = load_config(FULL)
    assert cfg.root == str(FULL.parent) and cfg.path == str(FULL)
    prod = cfg.environment("prod")
    assert prod.gates.soak == timedelta(days=1)
    assert prod.gates.require_checks == ("ci/e2e", "security/scan")
    assert prod.gates.auto is Auto.PATCH and prod.gates.min_approvals == 2
    assert prod.commenters.users == ("alice",) and prod.commenters.restricted
    assert prod.gates.freeze[0].reason == "year-end freeze"
    api = cfg.image("api")
    assert api.policy.max_update is UpdateType.MINOR
    assert api.policy.ignore == ("*-debug", "/-rc[0-9]+$/")  # from defaults
    assert api.source == "https://github.com/acme/api" and not api.discovered
    assert api.targets == (
        ("dev", (FileTarget(file="overlays/dev/kustomization.yaml", kind=Kind.KUSTOMIZE),)),
        ("staging", (KeyTarget(file="charts/api/values-staging.yaml",
                               key=("api", "image", "tag")),)),
        ("prod", (DiscoverTarget(paths=("overlays/prod",),
                                 kinds=(Kind.KUSTOMIZE, Kind.MANIFEST)),)))
    worker = cfg.image("worker")
    assert worker.policy.comparable("main-42-abcdef0") == "42"
    assert cfg.image("cache").platform == "linux/arm64"
    assert cfg.registry("registry.example.com:5000") is not None
    ghcr = cfg.registry("ghcr.io")
    assert ghcr is not None and (ghcr.username_env, ghcr.password_env) == ("GHCR_USER",
                                                                           "GHCR_TOKEN")
    assert cfg.forge.app is not None and cfg.forge.app.private_key_env == "PROMOTER_APP_KEY"
    assert cfg.pull_requests.merge_method == "squash" and cfg.commit.sign_off
    assert [e.name for e in cfg.sources("prod")] == ["staging"] and cfg.linear
    assert cfg.unit("worker") == "backend" and cfg.bundle_of("cache") is None
    with pytest.raises(InputError, match=r"^unknown environment 'prd' \(did you mean 'prod'\?\)$"):
        cfg.environment("prd")


def test_explicit_tracking_and_environment_grouping() -> None:
    cfg = parse_config(
        "environments: [{name: a, track: true}, {name: b, track: true}, c]\n"
        "images: [{repository: x, targets: {a: [{file: f}], c: [{file: g}]}}]\n"
        "pull-requests: {group: environment}\n"
        "x-notes: {anything: [goes]}\n")
    assert [e.name for e in cfg.tracking] == ["a", "b"]
    assert cfg.images[0].environments == ("a", "c") and cfg.images[0].targets_for("b") == ()
    assert cfg.pull_requests.branch == "promoter/{env}"
    assert cfg.pull_requests.title == "Promote {count} images to {env}"



def test_registry_concurrency_and_rate_caps() -> None:
    cfg = parse_config(MINIMAL + "registries:\n"
                       "  - {host: ghcr.io, concurrency: 4, requests-per-second: 0.5}\n"
                       "  - {host: quay.io, requests-per-second: 10}\n"
                       "  - {host: docker.io, concurrency: 0x10}\n"
                       "  - {host: registry.example.com:5000, concurrency: 2.0}\n"
                       "  - {host: gcr.io}\n")
    caps = [(r.host, r.concurrency, r.requests_per_second) for r in cfg.registries]
    assert caps == [("ghcr.io", 4, 0.5), ("quay.io", None, 10.0), ("docker.io", 16, None),
                    ("registry.example.com:5000", 2, None), ("gcr.io", None, None)]
    assert all(type(c) is int for _, c, _ in caps if c is not None)
    assert all(type(r) is float for _, _, r in caps if r is not None)

BERLIN_WEEKEND = FreezeWindow(days=(4, 5, 6), start_time=datetime(1, 1, 1, 16).time(),
                              timezone="Europe/Berlin")
NIGHTS = FreezeWindow(days=(0,), start_time=datetime(1, 1, 1, 22).time(),
                      end_time=datetime(1, 1, 1, 6).time())
ONCE = FreezeWindow(start=datetime(2026, 12, 20, tzinfo=UTC), end=datetime(2027, 1, 4, tzinfo=UTC))


@pytest.mark.parametrize(("window", "when", "covered"), [
    (ONCE, datetime(2026, 12, 19, 23, 59, tzinfo=UTC), False),
    (ONCE, datetime(2026, 12, 20, tzinfo=UTC), True),
    (ONCE, datetime(2027, 1, 4, tzinfo=UTC), False),  # end exclusive
    # Friday 2026-11-27, 15:30 UTC is 16:30 in Berlin (CET, UTC+1)
    (BERLIN_WEEKEND, datetime(2026, 11, 27, 14, 59, tzinfo=UTC), False),
    (BERLIN_WEEKEND, datetime(2026, 11, 27, 15, 30, tzinfo=UTC), True),
    (BERLIN_WEEKEND, datetime(2026, 11, 29, 22, 59, tzinfo=UTC), True),  # Sunday 23:59
    (BERLIN_WEEKEND, datetime(2026, 11, 29, 23, 0, tzinfo=UTC), False),  # Monday 00:00
    (NIGHTS, datetime(2026, 11, 23, 21, 59, tzinfo=UTC), False),  # Monday
    (NIGHTS, datetime(2026, 11, 23, 22, 0, tzinfo=UTC), True),
    (NIGHTS, datetime(2026, 11, 24, 5, 59, tzinfo=UTC), True),  # Tuesday morning
    (NIGHTS, datetime(2026, 11, 24, 6, 0, tzinfo=UTC), False),
    (NIGHTS, datetime(2026, 11, 24, 23, 0, tzinfo=UTC), False),  # Tuesday night
])
def test_freeze_windows(window: FreezeWindow, when: datetime, covered: bool) -> None:
    assert window.covers(when) is covered


@pytest.mark.parametrize(("template", "fields", "rendered"), [
    ("promoter/{env}/{image}", ("env", "image"), "promoter/prod/api"),
    ("{{literal}} {env}", ("env",), "{literal} prod"),
    ("no placeholders", (), "no placeholders"),
])
def test_templates(template: str, fields: tuple[str, ...], rendered: str) -> None:
    assert template_fields(template) == fields
    assert render_template(template, {"env": "prod", "image": "api"}) == rendered


@given(st.text())
def test_escaped_text_renders_to_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert template_fields(escaped) == ()
    assert render_template(escaped, {}) == text


@given(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,12}", fullmatch=True), min_size=1,
                max_size=12, unique=True), st.integers(1, 5))
def test_shards_partition_the_images_whatever_their_order(names: list[str], count: int) -> None:
    def cfg(order: list[str]) -> Config:
        return Config(path="p", root=".", environments=(), images=tuple(
            Image(name=n, repository=ImageRef.parse(f"acme/{n}")) for n in order))

    first, second = cfg(names), cfg(list(reversed(names)))
    parts = [tuple(i.name for i in first.shard(k, count)) for k in range(count)]
    assert sorted(n for p in parts for n in p) == sorted(names)
    assert [sorted(p) for p in parts] == [sorted(i.name for i in second.shard(k, count))
                                          for k in range(count)]


def test_shard_bounds() -> None:
    cfg = parse_config(MINIMAL)
    with pytest.raises(InputError, match=r"^shard 3/2: need 1 <= I <= N$"):
        cfg.shard(2, 2)


def test_paths_leaving_the_repository_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "overlays").mkdir()
    os.symlink("/etc", tmp_path / "overlays" / "etc")
    os.symlink("..", tmp_path / "up")
    conf = tmp_path / ".promoter.yaml"
    conf.write_text("environments: [dev]\n"
                    "images: [{repository: a, targets: {dev: [{file: overlays/etc/hosts}]}}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert str(info.value) == (f"{conf}:2:49: images[0].targets.dev[0].file: "
                               "'overlays/etc/hosts' leaves the repository through a symlink")
    conf.write_text("environments: [{name: dev, paths: ['up/*/x']}]\nimages: [{repository: a}]\n")
    with pytest.raises(ConfigError, match=r":1:36: environments\[0\].paths\[0\]: 'up/\*/x' "
                                          "leaves the repository through a symlink$"):
        load_config(conf)
    conf.write_text("environments: [{name: dev, paths: ['overlays/*/x']}]\n"
                    "images: [{repository: a}]\n")
    assert load_config(conf).images[0].targets_for("dev") == (
        DiscoverTarget(paths=("overlays/*/x",)),)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{tmp_path}/nope.yaml: no such file$"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"environments: [\xe9]\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value) == (f"{bad}:1:16: not UTF-8 text: byte 0xe9 at offset 15; is this a "
                               "binary file? save the config as UTF-8")


def test_read_secret_registers_and_explains() -> None:
    env = {"GH_APP_KEY": "k3y-material-xyz"}
    assert read_secret(env, None, key="forge.token-env") is None
    assert read_secret(env, "GH_APP_KEY", key="forge.app.private-key-env") == "k3y-material-xyz"
    assert redact("key is k3y-material-xyz") == "key is ***"
    with pytest.raises(InputError, match="^forge.token-env names the environment variable "
                                         "GITHUB_TOKEN, which is not set$"):
        read_secret(env, "GITHUB_TOKEN", key="forge.token-env")
