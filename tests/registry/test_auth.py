"""WWW-Authenticate parsing: table-driven and property-based."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.registry.auth import Challenge, parse_challenges, repository_scope

CASES = [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/nginx:pull"',
     [Challenge(scheme="bearer", params={"realm": "https://auth.docker.io/token",
                                         "service": "registry.docker.io",
                                         "scope": "repository:library/nginx:pull"})]),
    ('Basic realm="Registry Realm"', [Challenge(scheme="basic",
                                                 params={"realm": "Registry Realm"})]),
    ("bearer Realm=https://ghcr.io/token, Service=ghcr.io",
     [Challenge(scheme="bearer", params={"realm": "https://ghcr.io/token",
                                         "service": "ghcr.io"})]),
    ('Basic realm="r", Bearer realm="https://t/token",service="s"',
     [Challenge(scheme="basic", params={"realm": "r"}),
      Challenge(scheme="bearer", params={"realm": "https://t/token", "service": "s"})]),
    ('Bearer realm="a \\"quoted\\" realm, with comma"',
     [Challenge(scheme="bearer", params={"realm": 'a "quoted" realm, with comma'})]),
    ('Bearer realm="x, Basic realm=y",service="s"',
     [Challenge(scheme="bearer", params={"realm": "x, Basic realm=y", "service": "s"})]),
    ("Negotiate", [Challenge(scheme="negotiate", params={})]),
    ("", []),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert list(parse_challenges(header)) == expected


def test_challenge_scopes() -> None:
    (ch,) = parse_challenges('Bearer realm="r",scope="repository:a:pull repository:b:pull"')
    assert ch.scopes == ("repository:a:pull", "repository:b:pull")
    assert ch.realm == "r" and ch.service is None
    assert repository_scope("library/nginx") == "repository:library/nginx:pull"


_names = st.sampled_from(["realm", "service", "scope", "error", "error_description"])
_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40) | st.lists(
    st.sampled_from([",", " ", '"', "\\", "=", "Basic", "Bearer", "realm", "x"]), max_size=12
).map("".join)


@given(st.dictionaries(_names, _values, min_size=1), st.sampled_from(["Bearer", "Basic"]))
def test_quoted_params_round_trip(params: dict[str, str], scheme: str) -> None:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = f"{scheme} " + ",".join(f"{k}={quote(v)}" for k, v in params.items())
    assert parse_challenges(header) == (Challenge(scheme=scheme.lower(), params=params),)
