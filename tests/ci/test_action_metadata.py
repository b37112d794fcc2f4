"""action.yml and every sub-action against the action metadata rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.ci.actions import ACTIONS, EXPR, ROOT, load

IDS = [str(p.relative_to(ROOT)) for p in ACTIONS]
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
UNTRUSTED = re.compile(r"\$\{\{[^}]*\b(inputs|github\.event|github\.head_ref|env)\b")


def test_the_root_action_and_the_four_sub_actions_exist() -> None:
    assert IDS == ["action.yml", "actions/check/action.yml", "actions/comment/action.yml",
                   "actions/poll/action.yml", "actions/promote/action.yml"]


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_required_keys_and_composite_steps(path: Path) -> None:
    meta = load(path)
    assert set(meta) <= {"name", "author", "description", "inputs", "outputs", "runs",
                         "branding"}
    assert isinstance(meta["name"], str) and meta["name"]
    assert isinstance(meta["description"], str) and meta["description"]
    runs = meta["runs"]
    assert runs["using"] == "composite"
    ids = []
    for step in runs["steps"]:
        assert set(step) <= {"id", "name", "if", "run", "shell", "env", "working-directory",
                             "continue-on-error", "uses", "with"}
        assert ("run" in step) != ("uses" in step)
        if "run" in step:
            assert step["shell"] in ("bash", "sh", "python", "pwsh")  # required for run steps
        ids.append(step.get("id"))
    assert len([i for i in ids if i]) == len({i for i in ids if i})


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_inputs_and_outputs_are_well_formed(path: Path) -> None:
    meta = load(path)
    inputs = meta.get("inputs") or {}
    for name, spec in inputs.items():
        assert NAME.match(name), name
        assert set(spec) <= {"description", "required", "default", "deprecationMessage"}
        assert spec.get("description"), name
        assert isinstance(spec.get("default", ""), str), f"{name}: defaults are strings"
    step_ids = {s["id"] for s in meta["runs"]["steps"] if "id" in s}
    for name, spec in (meta.get("outputs") or {}).items():
        assert NAME.match(name), name
        assert spec.get("description"), name
        m = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", spec["value"])
        assert m is not None and m[1] in step_ids, f"{name}: composite outputs need a value"
    for step in meta["runs"]["steps"]:  # every expression names a declared input or step
        for value in (step.get("env") or {}).values():
            for expr in EXPR.findall(str(value)):
                kind, *rest = expr.split(".")
                if kind == "inputs":
                    assert rest[0] in inputs, expr
                elif kind == "steps":
                    assert rest[0] in step_ids, expr
                else:
                    assert expr == "github.token", expr


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_no_expression_reaches_a_shell(path: Path) -> None:
    for step in load(path)["runs"]["steps"]:
        run = step.get("run", "")
        assert "${{" not in run, f"{path}: {run!r}: pass it through env:"
        assert not UNTRUSTED.search(run)


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_the_scripts_a_step_runs_exist(path: Path) -> None:
    for step in load(path)["runs"]["steps"]:
        for script in re.findall(r'"\$GITHUB_ACTION_PATH/([^"]+)"', step.get("run", "")):
            assert (path.parent / script).resolve().is_file(), script


def test_sub_actions_fix_their_command() -> None:
    for path in ACTIONS[1:]:
        meta = load(path)
        assert "command" not in meta["inputs"]
        run = next(s for s in meta["runs"]["steps"] if s["id"] == "run")
        assert run["env"]["INPUT_COMMAND"] == path.parent.name


def test_the_checker_catches_injection() -> None:
    """The rule this file enforces, applied to the classic mistake."""
    bad = 'echo "${{ github.event.comment.body }}"'
    assert UNTRUSTED.search(bad) and "${{" in bad


def _readme_workflows() -> list[dict[Any, Any]]:
    text = (ROOT / "README.md").read_text().split("## GitHub Action", 1)[1]
    text = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [YAML(typ="safe").load(b) for b in blocks]


def test_readme_workflows_keep_expressions_out_of_scripts() -> None:
    workflows = _readme_workflows()
    triggers: set[str] = set()
    for wf in workflows:
        triggers |= set(wf.get("on") or wf.get(True) or {})  # YAML 1.1 reads `on` as True
        for job in wf["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), step
                if "uses" in step and "promoter" in step["uses"]:
                    for value in (step.get("with") or {}).values():
                        assert "github.event" not in str(value)
    assert triggers == {"schedule", "push", "pull_request", "issue_comment", "issues"}


INSTALL_STEPS = ("python", "key", "cache", "install")


def _install_steps(path: Path) -> list[dict[str, Any]]:
    steps = load(path)["runs"]["steps"]
    return [s for s in steps if s.get("id") in INSTALL_STEPS]


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_python_is_set_up_and_the_install_cached(path: Path) -> None:
    """Any runner works (ubuntu-22.04's python3 is 3.10): the action sets up its own Python
    without touching the job's, and keeps the venv in actions/cache."""
    meta = load(path)
    steps = _install_steps(path)
    assert [s["id"] for s in steps] == list(INSTALL_STEPS)
    python, key, cache, install = steps
    assert python["uses"] == "actions/setup-python@v5"
    assert python["with"]["update-environment"] is False
    assert python["if"] == "inputs.install != 'false' && inputs.image == ''"
    assert key["if"] == install["if"] == "inputs.image == ''"  # the image installs nothing
    assert cache["uses"] == "actions/cache@v4" and cache["if"] == "steps.key.outputs.key != ''"
    assert cache["with"] == {"path": "${{ steps.key.outputs.path }}",
                             "key": "${{ steps.key.outputs.key }}"}
    assert install["env"]["INPUT_KEY"] == "${{ steps.key.outputs.key }}"
    for step in (key, install):
        assert step["env"]["PROMOTER_BASE_PYTHON"] == "${{ steps.python.outputs.python-path }}"
        assert step["run"].startswith('"${PROMOTER_BASE_PYTHON:-python3}" ')
    assert meta["inputs"]["version"]["default"] == ""  # the action's own source: always exists
    assert meta["inputs"]["python-version"]["default"] == "3.12"


def test_the_sub_actions_install_like_the_root_action() -> None:
    """The five action.yml files are copies (composite actions cannot share steps): their
    install steps differ only in the script's path."""
    def norm(path: Path) -> str:
        return str(_install_steps(path)).replace("/../promoter_action.py",
                                                 "/actions/promoter_action.py")
    root = norm(ACTIONS[0])
    for path in ACTIONS[1:]:
        assert norm(path) == root, path


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_with_and_if_name_declared_inputs_and_earlier_steps(path: Path) -> None:
    meta = load(path)
    seen: set[str] = set()
    for step in meta["runs"]["steps"]:
        texts = [str(v) for v in (step.get("with") or {}).values()]
        refs = [e for t in texts for e in EXPR.findall(t)]
        if "if" in step:
            refs.append(str(step["if"]).split()[0])
        for ref in refs:
            kind, name, *_ = ref.split(".")
            assert (kind == "inputs" and name in meta["inputs"]) or \
                (kind == "steps" and name in seen), f"{path}: {ref}"
        if "id" in step:
            seen.add(step["id"])


@pytest.mark.parametrize("path", ACTIONS, ids=IDS)
def test_every_action_can_run_the_image_instead(path: Path) -> None:
    """image (empty: install) and image-env reach the run step through env: only."""
    meta = load(path)
    assert meta["inputs"]["image"]["default"] == ""
    assert meta["inputs"]["image-env"]["default"] == ""
    run = next(s for s in meta["runs"]["steps"] if s["id"] == "run")
    assert "if" not in run
    assert run["env"]["INPUT_IMAGE"] == "${{ inputs.image }}"
    assert run["env"]["INPUT_IMAGE_ENV"] == "${{ inputs.image-env }}"
    assert "image" not in run["run"]
