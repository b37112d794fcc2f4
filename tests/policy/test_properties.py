"""Property-based tests: versions round-trip and order like semver; ranges and policies obey
their algebra on generated tags."""

from __future__ import annotations

from decimal import Decimal

import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from promoter.policy import Order, TagPolicy, candidates, select
from promoter.versions import Range, UpdateType, Version, parse_version, update_type

examples = settings(max_examples=100, deadline=None)

small = st.integers(min_value=0, max_value=12)
pre_ident = st.one_of(small.map(str), st.sampled_from(["alpha", "beta", "rc", "pre", "dev"]))
numbers = st.lists(small, min_size=1, max_size=4).map(tuple)
prerelease = st.one_of(st.just(()), st.tuples(
    st.sampled_from(["alpha", "beta", "rc"]), *[small.map(str)] * 1).map(tuple))
variant = st.sampled_from(["", "alpine", "slim", "bookworm", "alpine3.18"])


@st.composite
def tags(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "v"]))
    nums = draw(numbers)
    pre = draw(prerelease)
    var = draw(variant)
    text = prefix + ".".join(map(str, nums))
    if pre:
        text += "-" + ".".join(pre)
    if var:
        text += "-" + var
    return text


@examples
@given(st.sampled_from(["", "v", "V"]), numbers, prerelease, variant,
       st.sampled_from(["", "b1", "build.7"]))
def test_roundtrip(prefix: str, nums: tuple[int, ...], pre: tuple[str, ...], var: str,
                   build: str) -> None:
    text = prefix + ".".join(map(str, nums)) + ("-" + ".".join(pre) if pre else "") + \
        ("-" + var if var else "") + ("+" + build if build else "")
    v = parse_version(text)
    assert v is not None
    assert (v.prefix, v.numbers, v.prerelease, v.variant, v.build) == (prefix, nums, pre, var,
                                                                       build)


strict = st.builds(
    lambda n, pre: ".".join(map(str, n)) + ("-" + ".".join(pre) if pre else ""),
    st.tuples(small, small, small),
    st.lists(pre_ident, max_size=3),
)


@examples
@given(strict, strict)
def test_order_agrees_with_semver(a: str, b: str) -> None:
    ours = (Version.parse(a).key > Version.parse(b).key) - (Version.parse(a).key <
                                                            Version.parse(b).key)
    assert ours == semver.Version.parse(a).compare(b)


@examples
@given(tags(), tags())
def test_update_type_is_symmetric_and_zero_only_for_equal(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert update_type(va, vb) is update_type(vb, va)
    assert (update_type(va, vb) is UpdateType.OTHER) == (va.key == vb.key)


releases = st.tuples(small, small, small).map(lambda t: Version.parse(".".join(map(str, t))))


@examples
@given(releases)
def test_caret_and_tilde_contain_their_base(v: Version) -> None:
    assert Range.parse(f"^{v}").contains(v)
    assert Range.parse(f"~{v}").contains(v)
    assert Range.parse(f"{v.major}.x").contains(v)
    assert Range.parse(str(v)).contains(v)


@examples
@given(releases, releases)
def test_tilde_within_caret(base: Version, v: Version) -> None:
    if Range.parse(f"~{base}").contains(v):
        assert Range.parse(f"^{base}").contains(v) or base.major == 0 and base.minor == 0


@examples
@given(releases, releases, releases)
def test_bounds_and_or(lo: Version, hi: Version, v: Version) -> None:
    assert Range.parse(f">={lo} <{hi}").contains(v) == (lo.key <= v.key < hi.key)
    assert Range.parse(f"{lo} - {hi}").contains(v) == (lo.key <= v.key <= hi.key)
    either = Range.parse(f"{lo} || >{hi}").contains(v)
    assert either == (v.key == lo.key or v.key > hi.key)


@examples
@given(releases, releases)
def test_caret_desugars(base: Version, v: Version) -> None:
    if base.major > 0:
        expected = Range.parse(f">={base} <{base.major + 1}.0.0")
        assert Range.parse(f"^{base}").contains(v) == expected.contains(v)
    xr = Range.parse(f">={base.major}.{base.minor}.0 <{base.major}.{base.minor + 1}.0")
    assert Range.parse(f"{base.major}.{base.minor}").contains(v) == xr.contains(v)


policies = st.builds(
    TagPolicy,
    range=st.sampled_from([None, "*", "^1", "~1.2", ">=1.0 <3", "1.x || 5.x", "<2"]),
    prerelease=st.booleans(),
    ignore=st.sampled_from([(), ("*-alpine",), ("/^v/",)]),
    allow=st.sampled_from([None, r"^\d", "alpine"]),
)


@examples
@given(policies, st.lists(tags(), max_size=25))
def test_candidates_are_an_ordered_subset_in_range(policy: TagPolicy, given_tags: list[str]
                                                   ) -> None:
    got = candidates(policy, given_tags)
    assert set(got) <= set(given_tags)
    assert len(got) == len(set(got))
    keys = [Version.parse(t).key for t in got]
    assert keys == sorted(keys, reverse=True)
    rng = Range.parse(policy.range or "*")
    assert all(rng.contains(Version.parse(t), prerelease=policy.prerelease) for t in got)
    assert select(policy, given_tags) == (got[0] if got else None)
    assert candidates(policy, got) == got
    assert candidates(policy, list(reversed(given_tags))) == got
    if policy.allow is None:
        assert all(not Version.parse(t).variant for t in got)


@examples
@given(policies, st.lists(tags(), max_size=25), tags(),
       st.sampled_from([None, UpdateType.PATCH, UpdateType.MINOR]))
def test_current_anchors_the_choice(policy: TagPolicy, given_tags: list[str], current: str,
                                    limit: UpdateType | None) -> None:
    policy = TagPolicy(range=policy.range, prerelease=policy.prerelease, max_update=limit)
    got = candidates(policy, given_tags, current=current)
    base = Version.parse(current)
    for tag in got:
        v = Version.parse(tag)
        assert v.family == base.family
        assert v.key >= base.key
        if limit is not None:
            assert update_type(base, v).rank <= limit.rank
    unlimited = candidates(TagPolicy(range=policy.range, prerelease=policy.prerelease),
                           given_tags, current=current)
    assert set(got) <= set(unlimited)


words = st.text(alphabet="ab1.-", min_size=1, max_size=6)


@examples
@given(st.lists(st.one_of(words, tags()), max_size=20), st.sampled_from(["asc", "desc"]),
       st.one_of(st.none(), words))
def test_alphabetical_and_numerical_orders(given_tags: list[str], order: str,
                                           current: str | None) -> None:
    for strategy, value in (("alphabetical", str), ("numerical", Decimal)):
        policy = TagPolicy(strategy=strategy, order=Order(order))
        got = candidates(policy, given_tags, current=current)
        assert set(got) <= set(given_tags) and len(got) == len(set(got))
        values = [value(t) for t in got]
        assert values == sorted(values, reverse=order == "asc")
        if strategy == "alphabetical":
            assert set(got) == {t for t in given_tags if current is None or
                                (t >= current if order == "asc" else t <= current)}
