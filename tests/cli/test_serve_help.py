"""`promoter serve --help` names every endpoint the server answers (issue 10)."""

from __future__ import annotations

import pytest

from promoter.cli import main


def test_serve_help_lists_every_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for endpoint in ("POST /webhooks/github", "POST /webhooks/gitlab", "POST /webhooks/registry",
                     "GET  /healthz", "GET  /metrics"):
        assert endpoint in out, endpoint
