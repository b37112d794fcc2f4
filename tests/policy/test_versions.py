"""Versions read from tags: parts, prerelease vs. variant, order, update types."""

from __future__ import annotations

import pytest

from promoter.errors import InputError
from promoter.versions import UpdateType, Version, parse_version, update_type

# tag, prefix, numbers, prerelease, variant, build
PARSED = [
    ("1.2.3", "", (1, 2, 3), (), "", ""),
    ("v1.2.3", "v", (1, 2, 3), (), "", ""),
    ("V2", "V", (2,), (), "", ""),
    ("1.25", "", (1, 25), (), "", ""),
    ("1.2.3.4", "", (1, 2, 3, 4), (), "", ""),
    ("2024.01.15", "", (2024, 1, 15), (), "", ""),
    ("1.2.3-rc.1", "", (1, 2, 3), ("rc", "1"), "", ""),
    ("1.2.3-beta2", "", (1, 2, 3), ("beta2",), "", ""),
    ("1.2.3-1", "", (1, 2, 3), ("1",), "", ""),
    ("1.2.3-SNAPSHOT", "", (1, 2, 3), ("SNAPSHOT",), "", ""),
    ("21-ea", "", (21,), ("ea",), "", ""),
    ("3.12.0b1", "", (3, 12, 0), ("b1",), "", ""),
    ("1.0.0rc2-slim", "", (1, 0, 0), ("rc2",), "slim", ""),
    ("1.2.3.dev0", "", (1, 2, 3), ("dev0",), "", ""),
    ("1.2.3-alpine", "", (1, 2, 3), (), "alpine", ""),
    ("1.2.3-alpine3.18", "", (1, 2, 3), (), "alpine3.18", ""),
    ("1.2.3-rc.1-alpine", "", (1, 2, 3), ("rc", "1"), "alpine", ""),
    ("16.1-bookworm", "", (16, 1), (), "bookworm", ""),
    ("1.2.3-bookworm-slim", "", (1, 2, 3), (), "bookworm-slim", ""),
    ("1.25.3-debian-12-r5", "", (1, 25, 3), (), "debian-12-r5", ""),
    ("1.2.3-musl", "", (1, 2, 3), (), "musl", ""),
    ("1.2.3-devel", "", (1, 2, 3), (), "devel", ""),
    ("1.2.3+build.5", "", (1, 2, 3), (), "", "build.5"),
    ("1.2.3-rc.1+b", "", (1, 2, 3), ("rc", "1"), "", "b"),
]


@pytest.mark.parametrize(("tag", "prefix", "numbers", "pre", "variant", "build"), PARSED)
def test_parse(tag: str, prefix: str, numbers: tuple[int, ...], pre: tuple[str, ...],
               variant: str, build: str) -> None:
    v = parse_version(tag)
    assert v is not None
    assert (v.text, v.prefix, v.numbers, v.prerelease, v.variant, v.build) == (
        tag, prefix, numbers, pre, variant, build)
    assert str(v) == tag


@pytest.mark.parametrize("tag", ["latest", "stable", "main", "sha-abc123", "v", "", "1.2.3.4.5",
                                 "1.2.3-", "1.2.3-rc.", "1.2.3--x", "1.2.3ubuntu", ".1.2",
                                 "1.2.", "x1.2.3", "main-1234-abcdef", "1.2.\u0663",
                                 "1.2.3-rc\u0663"])
def test_not_a_version(tag: str) -> None:
    assert parse_version(tag) is None
    with pytest.raises(InputError, match="not a version"):
        Version.parse(tag)


# Each list is in ascending order; neighbours with "=" between them are equal.
ORDERED = [
    ["0.0.1", "0.1.0", "0.9.9", "1", "1.0.1", "1.1", "1.2.3", "1.2.3.1", "1.2.4", "1.10.0",
     "2.0.0"],
    ["1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1",
     "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"],
    ["1.0.0-rc1", "1.0.0-rc2", "1.0.0-rc10", "1.0.0-rc10.1", "1.0.0"],  # natural, unlike semver
    ["1.2.0-rc.1", "1.2", "1.2.0.1"],
]
EQUAL = [("1.2", "1.2.0"), ("v1.2.3", "1.2.3"), ("1.2.3", "1.2.3+b1"), ("1", "1.0.0.0"),
         ("1.2.3-alpine", "1.2.3")]


@pytest.mark.parametrize("seq", ORDERED)
def test_order(seq: list[str]) -> None:
    keys = [Version.parse(t).key for t in seq]
    assert all(a < b for a, b in zip(keys, keys[1:], strict=False)), seq


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_precedence(a: str, b: str) -> None:
    assert Version.parse(a).key == Version.parse(b).key


def test_family() -> None:
    assert Version.parse("v1.2.3-alpine").family == ("v", 3, "alpine")
    assert Version.parse("1.25").family == ("", 2, "")
    assert Version.parse("V1.2.3").family == Version.parse("v9.9.9").family


UPDATES = [
    ("1.2.3", "1.2.4", UpdateType.PATCH),
    ("1.2.3", "1.2.3.1", UpdateType.PATCH),
    ("1.2.3-rc.1", "1.2.3", UpdateType.PATCH),
    ("1.2.3", "1.3.0", UpdateType.MINOR),
    ("1.2.3", "1.3", UpdateType.MINOR),
    ("1.2.3", "2.0.0", UpdateType.MAJOR),
    ("0.1.0", "0.2.0", UpdateType.MINOR),
    ("1.2.3", "v1.2.3", UpdateType.OTHER),
    ("1.2.3", "1.2.3+b2", UpdateType.OTHER),
    ("2.0.0", "1.0.0", UpdateType.MAJOR),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATES)
def test_update_type(old: str, new: str, expected: UpdateType) -> None:
    assert update_type(Version.parse(old), Version.parse(new)) is expected


def test_update_rank() -> None:
    ranks = [u.rank for u in (UpdateType.OTHER, UpdateType.PATCH, UpdateType.MINOR,
                              UpdateType.MAJOR)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_accessors() -> None:
    v = Version.parse("v1.2")
    assert (v.major, v.minor, v.patch, v.release, v.is_prerelease) == (1, 2, 0, (1, 2, 0, 0),
                                                                         False)
    assert Version.parse("1.2.3-rc.1").is_prerelease


@pytest.mark.parametrize(("tag", "strict"), [
    ("v1.2.3-rc.1+b7", "1.2.3-rc.1+b7"),
    ("1.2", "1.2.0"),
    ("V3", "3.0.0"),
    ("2024.01.15", "2024.1.15"),  # semver refuses the leading zero; our grammar reads it
    ("3.12.0b1", "3.12.0-b1"),  # an attached prerelease word
    ("1.2.3+build_7", "1.2.3+build_7"),  # "_" is not semver build metadata, kept as written
])
def test_to_semver_gives_the_strict_view(tag: str, strict: str) -> None:
    v = Version.parse(tag)
    assert str(v.to_semver()) == strict
    assert v.to_semver() is not None


@pytest.mark.parametrize("tag", ["1.2.3-alpine", "1.2.3-rc.1-alpine", "1.2.3.4"])
def test_to_semver_is_none_where_semver_has_no_place(tag: str) -> None:
    assert Version.parse(tag).to_semver() is None


def test_strict_tags_read_by_semver_and_by_our_grammar_agree() -> None:
    """A tag semver takes gives the same Version as the same tag read by our grammar (a
    leading zero sends 01.2.3 through our grammar only)."""
    for tag in ("1.2.3-rc.1-alpine", "v1.2.3-beta2", "1.2.3-1", "1.2.3+b1"):
        v, w = Version.parse(tag), Version.parse(tag.replace("1.2.3", "01.2.3"))
        assert (v.prefix, v.prerelease, v.variant, v.build, v.key) == \
            (w.prefix, w.prerelease, w.variant, w.build, w.key), tag
