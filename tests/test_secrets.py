from __future__ import annotations

import logging
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        ("9http://u:pw@h", "9http://u:***@h"),  # the scheme starts at its first letter
        ("a+git://x:y@z and s3://k:v@b", "a+git://x:***@z and s3://k:***@b"),
        ("http://a@b", "http://a@b"),
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
    assert main(["boom"]) == 3  # a registry that failed: retry later
    err = capsys.readouterr().err
    assert "tok-0123456789" not in err
    assert err.startswith("promoter: error: pull failed for https://u:***@r.example/v2/")


def test_version() -> None:
    from click.testing import CliRunner

    from promoter.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "promoter, version" in result.output


# the URL pattern as it was: right, but quadratic on a long word (issue 15, item 4)
_SLOW_URL_CREDS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab9+.-:/@ \n", max_size=60))
def test_url_credentials_pattern_finds_what_the_quadratic_one_found(text: str) -> None:
    expected = _SLOW_URL_CREDS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    assert secrets.redact(text) == expected


@pytest.mark.parametrize("word", ["a" * 1_000_000, "/promote" + "a" * 1_000_000,
                                  "a1" * 500_000, "a://" + "b" * 1_000_000,
                                  "a://b:" * 150_000])
def test_redacting_a_megabyte_word_is_linear(word: str) -> None:
    """GitLab comments may hold 1 MB; at 64 kB the old pattern took 5 s, so a quadratic one
    would take about 20 minutes here. The bound leaves room for a loaded machine."""
    started = time.perf_counter()
    secrets.redact(word)
    assert time.perf_counter() - started < 10
