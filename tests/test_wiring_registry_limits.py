"""`registries[].concurrency` and `requests-per-second` reach the OciRegistry that wiring builds,
keyed by the host as the wire names it, and nothing is passed for hosts that set neither."""

from __future__ import annotations

import pytest

from promoter import wiring
from promoter.config import parse_config

BASE = "environments: [dev]\nimages: [{repository: a, targets: {dev: [{file: a}]}}]\n"
CAPPED = BASE + (
    "registries:\n"
    "  - {host: GHCR.io, concurrency: 4, requests-per-second: 0.5}\n"
    "  - {host: quay.io, requests-per-second: 10}\n"
    "  - {host: 'registry.example.com:5000', concurrency: 1}\n"
    "  - {host: docker.io, insecure: false}\n")


@pytest.mark.parametrize(("host", "ceiling", "fixed", "rate"), [
    ("ghcr.io", 4, True, 0.5),
    ("quay.io", 32, False, 10.0),
    ("registry.example.com:5000", 1, True, None),
    ("registry-1.docker.io", 32, False, None),  # listed, but with no cap
    ("gcr.io", 32, False, None),  # not listed at all
])
def test_each_host_gets_its_own_limit(host: str, ceiling: int, fixed: bool,
                                      rate: float | None) -> None:
    """What a request to ``host`` waits on (a host written GHCR.io in the file is the wire's
    ghcr.io): a fixed number where the file set one, else the adaptive limit below 32."""
    limit = wiring.registry(parse_config(CAPPED), {})._limit(host)
    assert (limit.ceiling, limit.fixed, limit.requests_per_second) == (ceiling, fixed, rate)


@pytest.mark.parametrize("text", [BASE + "registries: [{host: ghcr.io, insecure: true}]\n",
                                  BASE], ids=["uncapped", "no-registries"])
def test_no_caps_means_every_host_adapts(text: str) -> None:
    reg = wiring.registry(parse_config(text), {})
    assert (reg._host_concurrency, reg._host_rate) == ({}, {})
    limit = reg._limit("ghcr.io")
    assert (limit.ceiling, limit.fixed, limit.requests_per_second) == (32, False, None)
