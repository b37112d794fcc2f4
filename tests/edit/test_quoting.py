"""Property: whatever tag or reference is written, both YAML 1.1 and 1.2 readers read it back."""

from __future__ import annotations

import io

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from promoter.edit.splice import render

TAGS = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z", fullmatch=True)
NUMBERISH = st.from_regex(r"\A[-+]?[0-9._eEoxXbB:]{1,12}\Z", fullmatch=True)
WORDS = st.sampled_from(["true", "False", "yes", "No", "on", "OFF", "y", "n", "null", "Null",
                         "~", "NaN", ".inf", "-.Inf", "0x1F", "0o17", "0b101", "1e3", "1:20",
                         "2001-12-14", "1.10", "010", "+1", "=", "<<"])


_RUAMEL = YAML(typ="safe", pure=True)  # YAML 1.2


def _reads(text: str) -> tuple[object, object]:
    return yaml.safe_load(text)["k"], _RUAMEL.load(io.StringIO(text))["k"]


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(TAGS, NUMBERISH, WORDS), style=st.sampled_from(["", "'", '"']),
       flow=st.booleans())
@example(value="1.10", style="", flow=False)
def test_rendered_value_reads_back_as_the_same_string(value: str, style: str,
                                                      flow: bool) -> None:
    scalar = render(value, style)
    text = f"{{k: {scalar}}}\n" if flow else f"k: {scalar}  # comment\n"
    assert _reads(text) == (value, value)


@settings(max_examples=50, deadline=None)
@given(name=st.lists(st.text("abcxyz0189", min_size=1, max_size=8), min_size=1, max_size=3)
       .map("/".join), tag=TAGS,
       digest=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64)
       .map("sha256:".__add__))
def test_references_stay_plain_and_read_back(name: str, tag: str, digest: str | None) -> None:
    ref = f"ghcr.io/{name}:{tag}" + (f"@{digest}" if digest else "")
    assert render(ref, "") == ref
    assert _reads(f"k: {ref}\n") == (ref, ref)
