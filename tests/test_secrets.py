from __future__ import annotations

import logging

import pytest

from promoter import secrets
from promoter.cli import main
from promoter.errors import RegistryError


def test_registered_secret_is_redacted() -> None:
    secrets.register("s3cr3t-token-value")
    assert secrets.redact("auth with s3cr3t-token-value failed") == "auth with *** failed"


def test_short_values_are_not_registered() -> None:
    secrets.register("abc")  # too short to be a secret worth hiding; would mangle text
    assert secrets.redact("abc") == "abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pa55@host/repo.git", "https://user:***@host/repo.git"),
        ("http://x-access-token:ghs_abc@127.0.0.1:1/r", "http://x-access-token:***@127.0.0.1:1/r"),
        ("Authorization: Bearer eyJhbGciOi", "Authorization: Bearer ***"),
        ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
        ("no secret here", "no secret here"),
    ],
)
def test_url_and_header_credentials_are_redacted(text: str, expected: str) -> None:
    assert secrets.redact(text) == expected


def test_log_formatter_redacts() -> None:
    secrets.register("hunter2-password")
    record = logging.LogRecord("promoter", logging.INFO, __file__, 1, "login %s",
                               ("hunter2-password",), None)
    assert secrets.RedactingFormatter("%(message)s").format(record) == "login ***"


def test_cli_error_handler_redacts_and_maps_exit_code(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import click

    from promoter import cli as cli_mod

    @click.command()
    def boom() -> None:
        secrets.register("tok-0123456789")
        raise RegistryError("pull failed for https://u:tok-0123456789@r.example/v2/")

    monkeypatch.setitem(cli_mod.COMMANDS, "boom", "tests.test_secrets:_boom")
    monkeypatch.setattr("tests.test_secrets._boom", boom, raising=False)
    assert main(["boom"]) == 2
    err = capsys.readouterr().err
    assert "tok-0123456789" not in err
    assert err.startswith("promoter: error: pull failed for https://u:***@r.example/v2/")


def test_version() -> None:
    from click.testing import CliRunner

    from promoter.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "promoter, version" in result.output
