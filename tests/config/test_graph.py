"""Promotion graphs: ``environments[].from`` builds sources, and bad graphs are refused with
the file, line and key."""

from __future__ import annotations

import pytest

from promoter.config import Config, parse_config
from promoter.errors import ConfigError

IMAGES = """\
images:
  - repository: ghcr.io/acme/api
    targets: {dev: [{file: a.yaml}]}
"""


def _cfg(envs: str) -> Config:
    return parse_config("environments:\n" + envs + IMAGES)


def _names(envs: tuple[object, ...]) -> list[str]:
    return [e.name for e in envs]  # type: ignore[attr-defined]


def test_without_from_the_list_stays_a_line() -> None:
    cfg = _cfg("  - dev\n  - staging\n  - prod\n")
    assert cfg.linear
    assert [(s.name, t.name) for s, t in cfg.edges()] == [("dev", "staging"),
                                                          ("staging", "prod")]
    assert cfg.steps() == cfg.edges()
    assert cfg.previous("prod") == cfg.environment("staging")
    assert cfg.previous("dev") is None
    assert _names(cfg.sources("dev")) == []
    assert _names(cfg.targets("dev")) == ["staging"]
    assert [cfg.depth(n) for n in cfg.env_names] == [0, 1, 2]


def test_fan_out_and_fan_in() -> None:
    cfg = _cfg("""\
  - dev
  - staging
  - {name: canary-eu, from: staging}
  - {name: canary-us, from: [staging]}
  - {name: prod, from: [canary-eu, canary-us]}
  - after
""")
    assert not cfg.linear
    assert _names(cfg.sources("prod")) == ["canary-eu", "canary-us"]
    assert _names(cfg.targets("staging")) == ["canary-eu", "canary-us"]
    # without from: the one before it, even in a graph
    assert _names(cfg.sources("after")) == ["prod"]
    assert [(s.name, t.name) for s, t in cfg.edges()] == [
        ("dev", "staging"), ("staging", "canary-eu"), ("staging", "canary-us"),
        ("canary-eu", "prod"), ("canary-us", "prod"), ("prod", "after")]
    assert [cfg.depth(n) for n in cfg.env_names] == [0, 1, 2, 2, 3, 4]
    with pytest.raises(Exception, match="prod is promoted from canary-eu, canary-us"):
        cfg.previous("prod")


def test_order_puts_sources_first_whatever_the_file_order() -> None:
    cfg = _cfg("""\
  - dev
  - {name: prod, from: staging}
  - {name: staging, from: dev}
""")
    assert _names(cfg.order()) == ["dev", "staging", "prod"]
    assert [(s.name, t.name) for s, t in cfg.edges()] == [("dev", "staging"),
                                                          ("staging", "prod")]


@pytest.mark.parametrize(("envs", "message"), [
    ("  - dev\n  - {name: prod, from: stagin}\n",
     ".promoter.yaml:3:24: environments[1].from: unknown environment 'stagin'"),
    ("  - dev\n  - staging\n  - {name: prod, from: [staging, deev]}\n",
     ".promoter.yaml:4:34: environments[2].from[1]: unknown environment 'deev' "
     "(did you mean 'dev'?)"),
    ("  - dev\n  - {name: prod, from: prod}\n",
     ".promoter.yaml:3:24: environments[1].from: 'prod' cannot be promoted from itself"),
    ("  - dev\n  - {name: a, from: [dev, b]}\n  - {name: b, from: a}\n",
     ".promoter.yaml:4:21: environments[2].from: the promotion graph has a cycle: "
     "b -> a -> b"),
    # b takes "the one before", a: the cycle is reported at the from: that closes it
    ("  - {name: a, from: b}\n  - b\n",
     ".promoter.yaml:2:21: environments[0].from: the promotion graph has a cycle: "
     "b -> a -> b"),
    ("  - dev\n  - {name: dev, from: dev}\n",
     ".promoter.yaml:3:5: environments[1]: duplicate environment 'dev' (also environments[0])"),
    ("  - dev\n  - {name: prod, from: []}\n",
     ".promoter.yaml:3:24: environments[1].from: must not be empty"),
])
def test_bad_graphs_name_the_place(envs: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _cfg(envs)
    assert str(info.value).startswith(message), str(info.value)
