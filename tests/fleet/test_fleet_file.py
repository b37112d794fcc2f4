"""The fleet file: what it lists becomes a Fleet; every mistake is one FILE:LINE:COL line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.config import ForgeType
from promoter.errors import ConfigError, InputError
from promoter.fleet import Fleet, Member, from_options, load_fleet, name_from_url, parse_fleet


def test_members_and_discovery(tmp_path: Path) -> None:
    text = """\
repositories:
  - path: gitops-a
  - clone: https://github.com/acme/gitops-b.git
    config: deploy/.promoter.yaml
  - clone: git@gitlab.example:group/sub/gitops-c.git
    name: platform/c
discover:
  - forge: github
    owner: acme
    topic: gitops-promoter
    match: '^acme/gitops-'
    token-env: GITHUB_TOKEN
"""
    fleet = parse_fleet(text, file=str(tmp_path / "promoter-fleet.yaml"))
    assert fleet.names == ("gitops-a", "acme/gitops-b", "platform/c")
    a, b, c = fleet.members
    assert a.path == tmp_path / "gitops-a" and a.clone is None
    assert b.clone == "https://github.com/acme/gitops-b.git"
    assert b.config == "deploy/.promoter.yaml" and b.path is None
    assert c.clone == "git@gitlab.example:group/sub/gitops-c.git"
    (d,) = fleet.discover
    assert (d.forge, d.owner, d.topic, d.token_env) == (ForgeType.GITHUB, "acme",
                                                        "gitops-promoter", "GITHUB_TOKEN")
    assert d.wants("acme/gitops-x", ["gitops-promoter", "k8s"])
    assert not d.wants("acme/gitops-x", ["k8s"])
    assert not d.wants("acme/website", ["gitops-promoter"])
    assert fleet.member("ACME/GitOps-B") is b


@pytest.mark.parametrize(("url", "name"), [
    ("https://github.com/acme/gitops.git", "acme/gitops"),
    ("https://gitlab.example/group/sub/project", "group/sub/project"),
    ("git@github.com:acme/gitops.git", "acme/gitops"),
    ("ssh://git@host:2222/acme/gitops.git", "acme/gitops"),
    ("file:///srv/git/gitops.git", "gitops"),
    ("../repos/gitops.git", "gitops"),
])
def test_names_from_urls(url: str, name: str) -> None:
    assert name_from_url(url) == name


@pytest.mark.parametrize(("text", "where", "words"), [
    ("repositories:\n  - path: a\n    clone: https://h/x/y.git\n", "2:5", "exactly one of"),
    ("repositories:\n  - name: a\n", "2:5", "path"),
    ("repositories:\n  - path: a\n  - path: sub/a\n", "3:5", "listed twice"),
    ("repositories:\n  - path: a\n    config: ../x.yaml\n", "3:13", "inside the repository"),
    ("repositories:\n  - path: a\n    colne: x\n", "3:5", "unknown key"),
    ("discover:\n  - forge: bitbucket\n    owner: a\n", "2:12", "must be one of github"),
    ("discover:\n  - forge: github\n    owner: a\n    match: '('\n", "4:12",
     "not a regular expression"),
    ("discover:\n  - forge: github\n    owner: a\n    token-env: ghp_x y\n", "4:16",
     "environment variable"),
    ("other: 1\n", "1:1", "unknown key"),
])
def test_mistakes_name_file_line_column(text: str, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_fleet(text, file="fleet.yaml")
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"fleet.yaml:{where}:"), first
    assert words in first


def test_an_empty_fleet_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="fleet.yaml:1:1: a fleet file lists repositories"):
        parse_fleet("{}\n", file="fleet.yaml")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_fleet(tmp_path / "nope.yaml")


def test_load_reads_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("repositories:\n  - path: ../x\n")
    (m,) = load_fleet(tmp_path / "f.yaml").members
    assert m.path == tmp_path / "../x" and m.name == "x"


def test_options_and_discovered_members(tmp_path: Path) -> None:
    fleet = from_options([str(tmp_path / "a"), str(tmp_path / "b")],
                         ["https://github.com/acme/c.git"], config="x.yaml")
    assert fleet.names == ("a", "b", "acme/c")
    assert {m.config for m in fleet.members} == {"x.yaml"}
    more = fleet.with_members([Member(name="acme/C", clone="u"), Member(name="acme/d",
                                                                          clone="v")])
    assert more.names == ("a", "b", "acme/c", "acme/d")
    with pytest.raises(InputError, match="twice"):
        Fleet(members=(Member(name="a", path=tmp_path), Member(name="a", path=tmp_path)))
