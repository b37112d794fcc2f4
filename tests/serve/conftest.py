"""Session fake forges for the serve tests (the same servers the flow tests use)."""

from __future__ import annotations

from tests.flows.conftest import github, gitlab  # noqa: F401 - fixtures are found by name
