"""`registries[].concurrency` and `requests-per-second` reach the OciRegistry that wiring builds,
keyed by the host as the wire names it, and nothing is passed for hosts that set neither."""

from __future__ import annotations

from typing import Any

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
CONCURRENCY = {"ghcr.io": 4, "registry.example.com:5000": 1}
RATE = {"ghcr.io": 0.5, "quay.io": 10.0}


class _Recorder:
    """Stands in for OciRegistry and keeps the keyword arguments it was built with."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.mark.parametrize(("text", "concurrency", "rate"), [
    (CAPPED, CONCURRENCY, RATE),
    (BASE + "registries: [{host: ghcr.io, insecure: true}]\n", None, None),
    (BASE, None, None),
], ids=["capped", "uncapped", "no-registries"])
def test_wiring_passes_the_caps_per_host(monkeypatch: pytest.MonkeyPatch, text: str,
                                         concurrency: dict[str, int] | None,
                                         rate: dict[str, float] | None) -> None:
    monkeypatch.setattr(wiring, "OciRegistry", _Recorder)
    built: Any = wiring.registry(parse_config(text), {})
    assert built.kwargs["host_concurrency"] == concurrency
    assert built.kwargs["host_rate"] == rate


def test_the_real_registry_keeps_the_caps() -> None:
    reg = wiring.registry(parse_config(CAPPED), {})
    assert reg._host_concurrency == CONCURRENCY
    assert reg._host_rate == RATE
