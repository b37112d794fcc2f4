"""Tag policies, table-driven: filters, strategies, families, current tag, max-update."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promoter.errors import InputError
from promoter.policy import STRATEGIES, Order, TagPolicy, candidates, select, survivors, update_of
from promoter.versions import UpdateType

TAGS = ("1.2.3", "1.2.4", "1.3.0", "2.0.0", "v1.2.5", "1.2.4-alpine", "1.2.5-alpine",
        "1.3.0-rc.1", "2.1.0-beta.1", "latest", "stable", "1.2", "1.3", "2", "1.2.3.4",
        "main-1234-abcdef", "main-999-0123ab")

# policy, current, expected candidates (best first)
CASES = [
    (TagPolicy(), None,
     ("2", "2.0.0", "1.3", "1.3.0", "v1.2.5", "1.2.4", "1.2.3.4", "1.2.3", "1.2")),
    (TagPolicy(range="^1.2"), None, ("1.3", "1.3.0", "v1.2.5", "1.2.4", "1.2.3.4", "1.2.3",
                                     "1.2")),
    (TagPolicy(range="~1.2.3"), None, ("v1.2.5", "1.2.4", "1.2.3.4", "1.2.3")),
    (TagPolicy(range=">=1.0 <2.0"), None, ("1.3", "1.3.0", "v1.2.5", "1.2.4", "1.2.3.4",
                                           "1.2.3", "1.2")),
    (TagPolicy(range="1.3.x || >=2"), None, ("2", "2.0.0", "1.3", "1.3.0")),
    (TagPolicy(range="^1.2", prerelease=True), None,
     ("1.3", "1.3.0", "1.3.0-rc.1", "v1.2.5", "1.2.4", "1.2.3.4", "1.2.3", "1.2")),
    (TagPolicy(range=">=1.3.0-rc.0 <1.4"), None, ("1.3", "1.3.0", "1.3.0-rc.1")),
    (TagPolicy(prerelease=True), None,
     ("2.1.0-beta.1", "2", "2.0.0", "1.3", "1.3.0", "1.3.0-rc.1", "v1.2.5", "1.2.4", "1.2.3.4",
      "1.2.3", "1.2")),
    # current: family (prefix, shape, variant), no downgrade
    (TagPolicy(), "1.2.3", ("2.0.0", "1.3.0", "1.2.4", "1.2.3")),
    (TagPolicy(), "1.2.4-alpine", ("1.2.5-alpine", "1.2.4-alpine")),
    (TagPolicy(), "1.2.6-alpine", ()),
    (TagPolicy(), "v1.0.0", ("v1.2.5",)),
    (TagPolicy(), "1.2", ("1.3", "1.2")),
    (TagPolicy(), "1", ("2",)),
    (TagPolicy(), "1.2.3.0", ("1.2.3.4",)),
    (TagPolicy(range="^1"), "1.2.3", ("1.3.0", "1.2.4", "1.2.3")),
    (TagPolicy(max_update=UpdateType.PATCH), "1.2.3", ("1.2.4", "1.2.3")),
    (TagPolicy(max_update=UpdateType.MINOR), "1.2.3", ("1.3.0", "1.2.4", "1.2.3")),
    (TagPolicy(max_update=UpdateType.MAJOR), "1.2.3", ("2.0.0", "1.3.0", "1.2.4", "1.2.3")),
    # a prerelease current admits prereleases of its own release only
    (TagPolicy(), "1.3.0-rc.0", ("2.0.0", "1.3.0", "1.3.0-rc.1")),
    # allow: filter, and its version group is what is compared
    (TagPolicy(allow=r"^\d+\.\d+\.\d+$"), None, ("2.0.0", "1.3.0", "1.2.4", "1.2.3")),
    (TagPolicy(allow=r"-alpine$"), None, ("1.2.5-alpine", "1.2.4-alpine")),
    (TagPolicy(allow=r"^main-(?P<version>\d+)-"), None, ("main-1234-abcdef", "main-999-0123ab")),
    (TagPolicy(allow=r"^main-(?<version>\d+)-"), "main-999-0123ab",
     ("main-1234-abcdef", "main-999-0123ab")),
    (TagPolicy(allow=r"^(?P<version>[\d.]+)-alpine$"), None, ("1.2.5-alpine", "1.2.4-alpine")),
    # ignore: globs and /regexes/
    (TagPolicy(ignore=("2*", "v*")), None, ("1.3", "1.3.0", "1.2.4", "1.2.3.4", "1.2.3", "1.2")),
    (TagPolicy(ignore=(r"/^\d+(\.\d+)?$/", "*.4")), None, ("2.0.0", "1.3.0", "v1.2.5", "1.2.3")),
    # the other strategies
    (TagPolicy(strategy="alphabetical"), None, tuple(sorted(TAGS, reverse=True))),
    (TagPolicy(strategy="alphabetical", order=Order.DESC), None, tuple(sorted(TAGS))),
    (TagPolicy(strategy="alphabetical", ignore=("*[0-9]*",)), "latest", ("stable", "latest")),
    (TagPolicy(strategy="alphabetical", ignore=("*[0-9]*",), order=Order.DESC), "stable",
     ("latest", "stable")),
    (TagPolicy(strategy="numerical"), None, ("2", "1.3", "1.2")),
    (TagPolicy(strategy="numerical", allow=r"^main-(?P<version>\d+)-"), None,
     ("main-1234-abcdef", "main-999-0123ab")),
    (TagPolicy(strategy="numerical", allow=r"^main-(?P<version>\d+)-", order=Order.DESC), None,
     ("main-999-0123ab", "main-1234-abcdef")),
    (TagPolicy(strategy="numerical", allow=r"^main-(?P<version>\d+)-"), "main-1234-abcdef",
     ("main-1234-abcdef",)),
    (TagPolicy(strategy="digest"), "stable", ("stable",)),
    (TagPolicy(strategy="digest"), "edge", ()),
    (TagPolicy(strategy="digest", ignore=("stable",)), "stable", ()),
]


@pytest.mark.parametrize(("policy", "current", "expected"), CASES)
def test_candidates(policy: TagPolicy, current: str | None, expected: tuple[str, ...]) -> None:
    got = candidates(policy, TAGS, current=current)
    assert got == expected
    assert select(policy, TAGS, current=current) == (expected[0] if expected else None)
    assert candidates(policy, reversed(TAGS), current=current) == expected


def test_numbers_compare_as_numbers() -> None:
    tags = ("9", "10", "1.5", "100", "-3", "x")
    assert candidates(TagPolicy(strategy="numerical"), tags) == ("100", "10", "9", "1.5", "-3")


def test_duplicates_are_dropped() -> None:
    assert candidates(TagPolicy(), ["1.0.0", "1.0.0", "0.9.0"]) == ("1.0.0", "0.9.0")


def test_ties_break_on_tag_text() -> None:
    assert candidates(TagPolicy(), ["v1.2.3", "1.2.3", "1.2.3+b"]) == ("1.2.3", "1.2.3+b",
                                                                       "v1.2.3")


BUILT = {
    "main-a": datetime(2026, 1, 3, tzinfo=UTC),
    "main-b": datetime(2026, 1, 5, tzinfo=UTC),
    "main-c": datetime(2026, 1, 4, tzinfo=UTC),
    "pr-7": datetime(2026, 2, 1, tzinfo=UTC),
}


def test_newest_build() -> None:
    policy = TagPolicy(strategy="newest-build", allow="^main-")
    tags = ("main-a", "main-b", "main-c", "pr-7", "main-d")
    assert policy.needs_created
    assert survivors(policy, tags) == ("main-a", "main-b", "main-c", "main-d")
    assert candidates(policy, tags, created=BUILT) == ("main-b", "main-c", "main-a")
    assert candidates(policy, tags, created=BUILT, current="main-c") == ("main-b", "main-c")
    assert candidates(policy, tags, created=BUILT, current="main-d") == ("main-b", "main-c",
                                                                         "main-a")
    with pytest.raises(InputError, match="needs the build time"):
        candidates(policy, tags)


def test_survivors_are_the_unordered_candidates() -> None:
    policy = TagPolicy(range="^1.2")
    assert survivors(policy, TAGS) == ("1.2.3", "1.2.4", "1.3.0", "v1.2.5", "1.2", "1.3",
                                       "1.2.3.4")
    assert set(survivors(policy, TAGS)) == set(candidates(policy, TAGS))
    assert not TagPolicy().needs_created


@pytest.mark.parametrize(("kwargs", "current", "message"), [
    ({"strategy": "newest"}, None, "unknown tag strategy 'newest'; choose one of semver, "
                                   "newest-build, alphabetical, numerical, digest"),
    ({"strategy": "numerical", "range": "^1"}, None,
     "a semver range applies to the semver strategy only, not to numerical"),
    ({"strategy": "digest", "prerelease": True}, None,
     "prerelease applies to the semver strategy only, not to digest"),
    ({"strategy": "alphabetical", "max_update": UpdateType.PATCH}, None,
     "max-update applies to the semver strategy only, not to alphabetical"),
    ({"order": Order.DESC}, None, "order applies to alphabetical and numerical only, "
                                  "not to semver"),
    ({"max_update": UpdateType.OTHER}, None, "max-update must be patch, minor or major"),
    ({"range": "^1.x-rc"}, None, "invalid semver range '^1.x-rc': a prerelease needs a full "
                                 "version in '1.x-rc'"),
    ({"allow": "(unclosed"}, None,
     "invalid allow regex '(unclosed': missing ), unterminated subpattern at position 0"),
    ({"ignore": ("/[z-a]/",)}, None,
     "invalid ignore regex '[z-a]': bad character range z-a at position 1"),
    ({"max_update": UpdateType.MINOR}, None, "max-update needs the current tag"),
    ({"strategy": "digest"}, None,
     "the digest strategy needs the tag to follow (the current tag)"),
    ({}, "latest", "current tag 'latest' is not a version"),
    ({"allow": "^main-"}, "1.2.3", "current tag '1.2.3' is not admitted by the allow pattern"),
])
def test_invalid_policy(kwargs: dict[str, object], current: str | None, message: str) -> None:
    with pytest.raises(InputError) as e:
        candidates(TagPolicy(**kwargs), TAGS, current=current)  # type: ignore[arg-type]
    assert str(e.value) == message


@pytest.mark.parametrize(("policy", "current", "new", "expected"), [
    (TagPolicy(), "1.2.3", "1.2.4", UpdateType.PATCH),
    (TagPolicy(), "1.2.3", "2.0.0", UpdateType.MAJOR),
    (TagPolicy(allow=r"^app-(?P<version>.*)$"), "app-1.2.3", "app-1.3.0", UpdateType.MINOR),
    (TagPolicy(), "latest", "1.2.3", UpdateType.OTHER),
    (TagPolicy(strategy="alphabetical"), "1.2.3", "2.0.0", UpdateType.OTHER),
])
def test_update_of(policy: TagPolicy, current: str, new: str, expected: UpdateType) -> None:
    assert update_of(policy, current, new) is expected


def test_strategies_registry() -> None:
    assert list(STRATEGIES) == ["semver", "newest-build", "alphabetical", "numerical", "digest"]
    assert all(s.name == key and s.help for key, s in STRATEGIES.items())
    assert [k for k, s in STRATEGIES.items() if s.needs_created] == ["newest-build"]


def test_policy_is_a_value() -> None:
    assert TagPolicy(range="^1") == TagPolicy(range="^1")
    assert hash(TagPolicy(ignore=("a",))) == hash(TagPolicy(ignore=("a",)))
    assert "_range" not in repr(TagPolicy())


def test_prerelease_variant_moves_within_its_variant() -> None:
    tags = ("1.2.3-rc.1-alpine", "1.2.3-rc.2-alpine", "1.2.3-alpine", "1.2.4-rc.1-alpine",
            "1.2.3-rc.2", "1.2.3", "1.2.3-rc.2-slim")
    assert candidates(TagPolicy(), tags, current="1.2.3-rc.1-alpine") == (
        "1.2.3-alpine", "1.2.3-rc.2-alpine", "1.2.3-rc.1-alpine")
    assert candidates(TagPolicy(prerelease=True), tags, current="1.2.3-rc.1-alpine") == (
        "1.2.4-rc.1-alpine", "1.2.3-alpine", "1.2.3-rc.2-alpine", "1.2.3-rc.1-alpine")
    assert candidates(TagPolicy(), tags, current="1.2.3-rc.1") == ("1.2.3", "1.2.3-rc.2")


@pytest.mark.parametrize(("pattern", "admitted", "refused"), [
    (r"^[0-9.]+$", ("9.9.9",), ("9.9.9\n", "9.9.9\nx")),  # $ is the end, never before a \n
    (r"-alpine$", ("1.2-alpine",), ("1.2-alpine\n",)),
    (r"^v\d+$|^latest$", ("v1", "latest"), ("v1\n", "latest\n")),
    (r"[$]x$", ("$x",), ("$x\n",)),  # a $ in a class is a dollar sign, the last one the end
    (r"^[^]$]$", ("a",), ("$", "]", "a\n")),
    (r"^a\$$", ("a$",), ("a$\n", "a")),  # an escaped $ stays a dollar sign
    (r"^main-", ("main-1", "main-1\n"), ("x-main-1",)),  # no $: a prefix is enough
])
def test_allow_dollar_is_the_end_of_the_tag(pattern: str, admitted: tuple[str, ...],
                                            refused: tuple[str, ...]) -> None:
    policy = TagPolicy(strategy="alphabetical", allow=pattern)
    assert [t for t in (*admitted, *refused) if policy.admits(t)] == list(admitted)


def test_ignore_regex_dollar_is_the_end_of_the_tag() -> None:
    policy = TagPolicy(strategy="alphabetical", ignore=("/-debug$/",))
    assert candidates(policy, ("1-debug", "1-debug\n", "2")) == ("2", "1-debug\n")
