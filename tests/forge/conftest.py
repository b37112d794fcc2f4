"""Registers the forge fixtures of :mod:`tests.forge.harness` for this directory."""

from __future__ import annotations

from tests.forge.harness import (  # noqa: F401 - fixtures are found by name
    gh_fake,
    github_server,
    gitlab_server,
    gl_fake,
    harness,
    spec_path,
)
