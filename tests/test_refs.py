from __future__ import annotations

import pytest

from promoter.errors import InputError
from promoter.refs import ImageRef, check_tag, is_valid_tag, normalize_name, tag_problem

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("index.docker.io/nginx", "docker.io", "library/nginx", None, None),
        ("registry-1.docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("bitnami/redis", "docker.io", "bitnami/redis", None, None),
        ("ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("localhost/app:1", "localhost", "app", "1", None),
        ("127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000", "a/b/c", "tag", None),
        (f"quay.io/x/y@{DIGEST}", "quay.io", "x/y", None, DIGEST),
        (f"quay.io/x/y:1.0@{DIGEST}", "quay.io", "x/y", "1.0", DIGEST),
        ("registry.gitlab.com/group/sub/project/image:main-1234-abcdef", "registry.gitlab.com",
         "group/sub/project/image", "main-1234-abcdef", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None,
               digest: str | None) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag,
                                                                    digest)


@pytest.mark.parametrize("text", ["", "UPPER", "nginx:", "a//b", "nginx@sha256:short", ":tag",
                                  "foo bar", "nginx:1.0\nx", "nginx:\u00e9t\u00e9",
                                  f"nginx@{DIGEST}\n:x"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InputError, match="not a valid image reference"):
        ImageRef.parse(text)


def test_equivalent_names_match() -> None:
    assert normalize_name("nginx") == normalize_name("docker.io/library/nginx:1") == \
        "docker.io/library/nginx"
    assert normalize_name("not valid!") is None


def test_str_and_familiar() -> None:
    ref = ImageRef.parse(f"nginx:1.25@{DIGEST}")
    assert str(ref) == f"docker.io/library/nginx:1.25@{DIGEST}"
    assert ref.familiar == "nginx"
    assert ImageRef.parse("ghcr.io/o/a").familiar == "ghcr.io/o/a"


@pytest.mark.parametrize("tag", ["1.2.3", "v1", "_x", "latest", "A" * 128, "main-1234-abc_DEF.9"])
def test_oci_tags_are_valid(tag: str) -> None:
    assert tag_problem(tag) is None
    assert is_valid_tag(tag)
    assert check_tag(tag, "x") == tag


@pytest.mark.parametrize(("tag", "problem"), [
    ("9.9.9\n", "character '\\n' at 6: only A-Z a-z 0-9 _ . - are allowed"),  # $ would pass it
    ("x y$(id)", "character ' ' at 2: only A-Z a-z 0-9 _ . - are allowed"),
    ("::error::pwned", "character ':' at 1: only A-Z a-z 0-9 _ . - are allowed"),
    ("\u0661\u0662", "character '\u0661' at 1: only A-Z a-z 0-9 _ . - are allowed"),  # \\w would
    (".hidden", "must start with a letter, a digit or _"),
    ("-rf", "must start with a letter, a digit or _"),
    ("", "empty"),
    ("a" * 129, "longer than 128 characters"),
    (42, "not a string but a JSON number"),
    (None, "not a string but a JSON null"),
    (True, "not a string but a JSON boolean"),
    (["1"], "not a string but a JSON array"),
    ({"a": 1}, "not a string but a JSON object"),
])
def test_invalid_tags_say_why(tag: object, problem: str) -> None:
    assert tag_problem(tag) == problem
    assert not is_valid_tag(tag)  # type: ignore[arg-type]


def test_check_tag_names_what_and_shortens_a_flood() -> None:
    with pytest.raises(InputError) as info:
        check_tag("x" * 10_000 + "\n", "rollback --to")
    message = str(info.value)
    assert message.startswith("rollback --to: not a valid tag: 'xxx")
    assert message.endswith("xxx...' (longer than 128 characters)")
    assert len(message) < 160
    assert "\n" not in message
