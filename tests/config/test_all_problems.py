"""A config with several mistakes gets them all at once, in the order of the file, each with
its file, line, column, key and image; hostile files (deep nesting, binary) get one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.cli import main
from promoter.config import config_problems, load_config, parse_config
from promoter.errors import ConfigError, Problem

MANY = (
    "environments:\n"                                            # 1
    "  - name: dev\n"                                            # 2
    "    gates: {soak: 1.5s}\n"                                  # 3
    "  - name: prod\n"                                           # 4
    "    gates: {auto: sometimes}\n"                             # 5
    "images:\n"                                                  # 6
    "  - repository: ghcr.io/acme/api\n"                         # 7
    "    policy: {semver: '>=1.x.y'}\n"                          # 8
    "    targets: {dev: [{file: a.yaml}]}\n"                     # 9
    "  - name: api\n"                                            # 10
    "    repository: ghcr.io/acme/other\n"                       # 11
    "    targets: {qa: [{file: b.yaml}]}\n"                      # 12
    "forge: {type: gitlab}\n"                                    # 13
    "pull-requests: {branch: 'promoter/{env}/{image}/{version}'}\n"  # 14
)


def _problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="c.yaml")
    return info.value.problems


def test_every_problem_in_document_order() -> None:
    problems = _problems(MANY)
    assert [str(p) for p in problems] == [
        "c.yaml:3:19: environments[0].gates.soak: it is not a whole number of seconds; write a "
        "duration such as 90s, 5m, 1h30m, 1.5h, 2d or 1w",
        "c.yaml:5:19: environments[1].gates.auto: must be one of none, patch, minor, all "
        "(got 'sometimes')",
        "c.yaml:8:22: images[0].policy.semver: invalid semver range '>=1.x.y': '1.x.y' is not "
        "a version",
        "c.yaml:10:5: images[1]: duplicate image 'api' (also images[0]); give one a distinct "
        "name",
        "c.yaml:13:8: forge: forge type gitlab needs project",
        "c.yaml:14:25: pull-requests.branch: unknown placeholder {version}; a branch must not "
        "change when a newer version supersedes the PR; use {env}, {image}, {base}",
    ]
    assert problems[2] == Problem(file="c.yaml", line=8, column=22, key="images[0].policy.semver",
                                  image="api", message="invalid semver range '>=1.x.y': "
                                  "'1.x.y' is not a version")
    assert [p.image for p in problems] == [None, None, "api", "api", None, None]
    assert problems[0].as_dict() == {
        "file": "c.yaml", "line": 3, "column": 19, "key": "environments[0].gates.soak",
        "image": None, "message": problems[0].message}


def test_the_first_line_stays_what_one_error_printed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MANY, file="c.yaml")
    assert str(info.value) == str(info.value.problems[0]) + " (and 5 more)"


def test_a_schema_error_does_not_hide_the_checks_of_other_parts() -> None:
    """The schema fails images[0]; the duplicate environment is still found, and images[0]'s
    broken shape does not crash the checks or echo the schema's complaint."""
    problems = _problems("environments: [dev, dev]\n"
                         "images: [{repository: 5, targets: {dev: [{file: a}]}}]\n")
    assert [str(p) for p in problems] == [
        "c.yaml:1:21: environments[1]: duplicate environment 'dev' (also environments[0])",
        "c.yaml:2:23: images[0].repository: expected a string, got an integer (quote it: '...')",
    ]


def test_config_problems_returns_them_without_raising(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(MANY)
    problems = config_problems(conf)
    assert len(problems) == 6 and problems[0].file == str(conf) and problems[0].line == 3
    conf.write_text("environments: [dev]\nimages: [{repository: a, targets: {dev: [{file: a}]}}]\n")
    assert config_problems(conf) == ()
    assert config_problems(tmp_path / "nope.yaml") == (
        Problem(file=f"{tmp_path}/nope.yaml", message="no such file"),)


def test_a_check_tripping_over_refused_data_leaves_the_schema_s_reason() -> None:
    """int(.inf) would overflow in the registry check; the schema's complaint stands alone
    (found by tests/config/test_fuzz.py)."""
    problems = _problems("environments: [dev]\nimages: [{repository: a, targets: "
                         "{dev: [{file: a}]}}]\nregistries: [{host: r, concurrency: .inf}]\n")
    assert [str(p) for p in problems] == [
        "c.yaml:3:37: registries[0].concurrency: expected an integer, got a number"]


def test_duplicate_keys_are_all_reported() -> None:
    problems = _problems("environments: [dev]\nimages: [{repository: a, targets: "
                         "{dev: [{file: a}]}}]\nforge: {}\nforge: {}\nforge: {}\n")
    assert [str(p) for p in problems] == [
        "c.yaml:4:1: forge: duplicate key (first on line 3)",
        "c.yaml:5:1: forge: duplicate key (first on line 3)",
    ]


def test_config_validate_prints_every_problem(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_text(MANY)
    assert main(["config", "validate", str(conf)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 6
    assert lines[0] == (f"promoter: error: {conf}:3:19: environments[0].gates.soak: it is not a "
                        "whole number of seconds; write a duration such as 90s, 5m, 1h30m, "
                        "1.5h, 2d or 1w")
    prefix = f"promoter: error: {conf}:"
    assert [line.removeprefix(prefix).split(":")[0] for line in lines] == [
        "3", "5", "8", "10", "13", "14"]


# -- hostile files (issue 15, items 10 and 15) --------------------------------------------------

def test_a_config_nested_900_deep_is_one_line_with_its_position(tmp_path: Path) -> None:
    conf = tmp_path / "deep.yaml"
    conf.write_text("environments: [dev]\nimages: []\nx-deep: " + "[" * 900 + "]" * 900 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert str(info.value) == f"{conf}:3:72: nested more than 64 levels deep"
    assert info.value.problems == (Problem(file=str(conf), line=3, column=72,
                                           message="nested more than 64 levels deep"),)


def test_block_nesting_and_alias_nesting_are_bounded_too() -> None:
    block = "environments:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    with pytest.raises(ConfigError, match=r"^c\.yaml:66:131: nested more than 64 levels deep$"):
        parse_config(block, file="c.yaml")
    # each alias wraps the previous one in a list: 100 lines, 100 levels, no deep text
    chain = "x-0: &a0 [1]\n" + "".join(f"x-{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100))
    with pytest.raises(ConfigError, match=r"nested more than 64 levels deep"):
        parse_config(chain, file="c.yaml")


def test_a_binary_config_names_the_byte_and_its_line(tmp_path: Path) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_bytes(b"environments: [dev]\nimages:\n  - repository: \xff\xfeapi\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    message = str(info.value)
    assert message == (f"{conf}:3:17: not UTF-8 text: byte 0xff at offset 44; is this a binary "
                       "file? save the config as UTF-8")
    assert "UnicodeDecodeError" not in message


def test_a_nul_byte_is_not_an_exception_name(tmp_path: Path) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_bytes(b"environments: [dev]\nimages: \x00\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert str(info.value) == (f"{conf}:2:9: invalid YAML: character U+0000 is not allowed; "
                               "is this a binary file?")


def test_a_png_through_the_cli_is_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert main(["config", "validate", str(conf)]) == 2
    err = capsys.readouterr().err
    assert err == (f"promoter: error: {conf}:1:1: not UTF-8 text: byte 0x89 at offset 0; is "
                   "this a binary file? save the config as UTF-8\n")


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    conf = tmp_path / ".promoter.yaml"
    conf.write_bytes(b"\xef\xbb\xbfenvironments: [dev]\n"
                     b"images: [{repository: a, targets: {dev: [{file: a}]}}]\n")
    assert load_config(conf).env_names == ("dev",)


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a directory, not a file$"):
        load_config(tmp_path)
