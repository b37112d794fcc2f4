"""``.promoter/ignore.yaml``: rules in, patterns out, and a poll that skips what was ignored."""

from __future__ import annotations

import pytest

from promoter import ignores
from promoter.config import parse_config
from promoter.errors import InputError
from promoter.flows.poll import make_plan
from promoter.gitrepo import MemoryWorkspace
from promoter.policy import TagPolicy
from promoter.registry.memory import MemoryRegistry

TAGS = ("1.4.2", "1.4.3", "1.5.0", "v2.0.0", "2.1.0", "2.1.5-alpine", "3.1.0", "3.1.2", "3.2.0",
        "20.0.0")


@pytest.mark.parametrize(("kw", "version", "gone"), [
    ({}, "1.4.3", {"1.4.3"}),
    ({"major": True}, "2.1.0", {"v2.0.0", "2.1.0", "2.1.5-alpine"}),
    ({"minor": True}, "3.1.2", {"3.1.0", "3.1.2"}),
    ({"minor": True}, "v2.1.0", {"2.1.0", "2.1.5-alpine"}),
])
def test_rules_become_policy_patterns(kw: dict[str, bool], version: str, gone: set[str]) -> None:
    rules = ignores.add({}, "api", version=version, **kw)
    policy = TagPolicy(strategy="alphabetical", ignore=rules["api"].patterns())
    assert {t for t in TAGS if not policy.admits(t)} == gone


def test_dump_parse_round_trip_is_stable() -> None:
    rules = ignores.add({}, "api", version="1.4.3")
    rules = ignores.add(rules, "api", version="2.0.0", major=True)
    rules = ignores.add(rules, "api", version="3.1.0", minor=True)
    rules = ignores.add(rules, "worker", whole=True)
    rules = ignores.add(rules, "odd*[name]", version="1.0.0")
    text = ignores.dump(rules)
    assert ignores.parse(text) == rules
    assert ignores.dump(ignores.parse(text)) == text
    assert text.startswith(ignores.HEADER)
    assert '  "api":\n    versions: ["1.4.3"]\n    majors: [2]\n    minors: ["3.1"]\n' in text
    assert ignores.dump({}) == ignores.HEADER + "images: {}\n"
    assert ignores.parse(ignores.dump({})) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("images: [a]", ".promoter/ignore.yaml: images: expected a mapping of image names"),
    ("images: {a: 1}", ".promoter/ignore.yaml: images.a: expected a mapping"),
    ("images: {a: {versions: x}}", ".promoter/ignore.yaml: images.a.versions: expected a list"),
    ("images: {a: {majors: [x]}}", ".promoter/ignore.yaml: images.a.majors: expected numbers"),
    ("images: {", ".promoter/ignore.yaml: not valid YAML: while parsing a flow node"),
])
def test_malformed_files_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        ignores.parse(text)
    assert str(e.value) == message


def test_major_of_a_non_version_is_refused() -> None:
    with pytest.raises(InputError, match="'latest' is not a version, so it has no major"):
        ignores.add({}, "api", version="latest", major=True)


CONFIG = """\
environments:
  - {name: dev, paths: [dev]}
images:
  - {name: api, repository: ghcr.io/acme/api}
  - {name: web, repository: ghcr.io/acme/web}
"""
KUST = "images:\n  - name: ghcr.io/acme/api\n    newTag: 1.0.0\n" \
       "  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n"


def test_a_poll_reads_the_ignore_file_on_the_base_branch() -> None:
    reg = MemoryRegistry()
    for tag in ("1.0.0", "1.0.1", "1.1.0", "2.0.0"):
        reg.push(f"ghcr.io/acme/api:{tag}")
        reg.push(f"ghcr.io/acme/web:{tag}")
    cfg = parse_config(CONFIG)
    files = {"dev/kustomization.yaml": KUST, ".promoter.yaml": CONFIG}

    def chosen(extra: dict[str, str]) -> dict[str, str]:
        plan, _, _ = make_plan(cfg, MemoryWorkspace({**files, **extra}), reg)
        return {u.image: u.new_tag for pr in plan.pull_requests for u in pr.updates}

    assert chosen({}) == {"api": "2.0.0", "web": "2.0.0"}
    rules = ignores.add({}, "api", version="2.0.0", major=True)
    rules = ignores.add(rules, "api", version="1.1.0")
    rules = ignores.add(rules, "web", whole=True)
    assert chosen({ignores.PATH: ignores.dump(rules)}) == {"api": "1.0.1"}
