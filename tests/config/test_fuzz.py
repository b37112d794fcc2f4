"""Whatever the file holds, loading it ends in a Config or one ConfigError whose lines name the
file: never another exception (the CLI would print its class name)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promoter.config import parse_config
from promoter.config.document import decode
from promoter.errors import ConfigError

EXAMPLE = (Path(__file__).resolve().parent.parent.parent / "examples" / "config"
           / "full.promoter.yaml").read_text()
LINES = EXAMPLE.splitlines(keepends=True)
_VALUES = st.sampled_from(["", "x", "1", "1.5", "-1", "true", "null", "[]", "{}", "[a, b]",
                           "{a: 1}", "'^1'", "'{version}'", "..", "/abs", ".inf", "&a x",
                           "*a", "<<: *a", "'2026-01-01T00:00:00Z'", "1h", "0.5s", "|\n  x"])


def _outcome(text: str) -> None:
    try:
        parse_config(text, file="c.yaml")
    except ConfigError as e:
        assert e.problems
        for p in e.problems:
            assert p.file == "c.yaml"
            assert "\n" not in str(p)
            assert p.line is None or p.line >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(LINES) - 1), _VALUES), min_size=1, max_size=4))
def test_the_example_with_values_replaced(edits: list[tuple[int, str]]) -> None:
    lines = list(LINES)
    for index, value in edits:
        head, sep, _ = lines[index].partition(": ")
        lines[index] = f"{head}{sep or ': '}{value}\n"
    _outcome("".join(lines))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(LINES) - 1), min_size=1, max_size=6, unique=True))
def test_the_example_with_lines_removed(drop: list[int]) -> None:
    _outcome("".join(line for i, line in enumerate(LINES) if i not in drop))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=":-[]{},&*!|>'\"#%@`?\n abc0123", max_size=60))
def test_arbitrary_yaml_punctuation(text: str) -> None:
    _outcome(text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        text = decode(data, "c.yaml")
    except ConfigError as e:
        assert str(e).startswith("c.yaml:1:") or str(e).startswith("c.yaml:")
        return
    _outcome(text)
