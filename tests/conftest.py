"""Guard rails for every test: a clean environment, no writes to the real home, git identity."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run, so a landing never depends on a
# lucky seed; locally they stay random and keep exploring. Failures print a reproduction blob.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Variables that would make a test talk to a real forge/registry or read the developer's config.
# read before any test cleans the environment
_SHARED_OVERRIDE = os.environ.get("PROMOTER_SHARED_DIR")
_STRIP_PREFIXES = ("GITHUB_", "GITLAB_", "CI_", "PROMOTER_", "DOCKER_", "REGISTRY_", "RUNNER_")
_STRIP_EXACT = ("CI", "GH_TOKEN", "GL_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                "https_proxy", "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(_STRIP_PREFIXES) or key in _STRIP_EXACT:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    yield


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the checkout (corpus, bench); tests that need it skip without it."""
    here = Path(__file__).resolve().parent.parent
    d = Path(_SHARED_OVERRIDE) if _SHARED_OVERRIDE else here.parent / "shared"
    if not d.is_dir():
        pytest.skip("shared/ is not beside the checkout")
    return d
