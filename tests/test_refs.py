from __future__ import annotations

import pytest

from promoter.errors import InputError
from promoter.refs import ImageRef, normalize_name

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
                                  "foo bar"])
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
