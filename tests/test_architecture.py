"""The pure core never imports an edge (network, git, forges, CI, registry clients)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "promoter"
CORE = ["refs.py", "versions.py", "policy.py", "plan.py", "gates.py", "commands.py",
        "dashboard.py",
        "render/__init__.py", "signing.py", "signature_gate.py", "durations.py", "report",
        "charts.py",
        # the terminal side may import rich (it draws on a stream it is given), nothing else
        "console.py",
        "edit"]
FORBIDDEN = ("httpx", "git", "github", "gitlab", "promoter.registry.oci", "promoter.forge",
             "promoter.gitrepo", "promoter.ci", "subprocess", "socket")


def _core_files() -> list[Path]:
    files: list[Path] = []
    for entry in CORE:
        p = PKG / entry
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else [])
    return files


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # ``from promoter.x import y`` where y is a module of its own
            names.update(f"{node.module}.{a.name}" for a in node.names
                         if _source(f"{node.module}.{a.name}") is not None)
    return names


def _source(module: str) -> Path | None:
    """The file of one of promoter's modules (None: not ours, or no such module)."""
    if module != "promoter" and not module.startswith("promoter."):
        return None
    base = PKG.parent / module.replace(".", "/")
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


def _edges(name: str) -> set[str]:
    return {name for f in FORBIDDEN if name == f or name.startswith(f + ".")}


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_core_module_imports_no_edge(path: Path) -> None:
    bad = sorted(e for n in _imports(path) for e in _edges(n))
    assert not bad, f"{path.relative_to(PKG)} imports edge modules {bad}"


def _reached(path: Path) -> dict[str, str]:
    """Every module importing ``path`` runs, through promoter's own modules and their
    packages' ``__init__``: name -> the module that imported it."""
    via: dict[str, str] = {}
    todo = [(n, str(path.relative_to(PKG.parent))) for n in _imports(path)]
    while todo:
        name, by = todo.pop()
        if name in via:
            continue
        via[name] = by
        parts = name.split(".")
        todo.extend((".".join(parts[:i]), name) for i in range(1, len(parts)))
        src = _source(name)
        if src is not None:
            todo.extend((n, name) for n in _imports(src))
    return via


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_core_module_reaches_no_edge_through_promoters_modules(path: Path) -> None:
    """Importing a core module never loads an edge on the way (a core helper that imports
    the forge package would drag it, and its clients, into every pure test)."""
    via = _reached(path)

    def chain(name: str) -> str:
        out = [name]
        while out[-1] in via and len(out) < 20:
            out.append(via[out[-1]])
        return " <- ".join(out)

    bad = sorted(chain(e) for n in via for e in _edges(n))
    assert not bad, f"{path.relative_to(PKG)} loads edge modules: {bad[:3]}"


def test_the_reach_check_sees_an_edge_behind_a_flow() -> None:
    """The walk above finds what it must: a flow reaches git through the snapshots module."""
    assert "promoter.gitrepo" in _reached(PKG / "flows" / "poll.py")


FLOWS = sorted((PKG / "flows").glob("*.py"))


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_flows_never_import_the_cli(path: Path) -> None:
    """The CLI parses options and prints; a use case that reached back up into it would make
    the command line a library of the flows."""
    bad = sorted(n for n in _imports(path) if n == "promoter.cli" or n.startswith("promoter.cli."))
    assert not bad, f"flows/{path.name} imports {bad}"



def _names_from(path: Path, package: str) -> list[tuple[str, str]]:
    """(module, name) of every ``from promoter.<package>.<module> import name`` in ``path``,
    function-local imports included."""
    out: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                and node.module.startswith(f"promoter.{package}.")):
            out.extend((node.module, a.name) for a in node.names)
    return out


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_no_flow_imports_another_flows_private_names(path: Path) -> None:
    """A use case shares what it means to share under a public name (publish, snapshots);
    reaching for another flow's ``_helpers`` couples two use cases by accident."""
    bad = [f"{m}.{n}" for m, n in _names_from(path, "flows")
           if n.startswith("_") and m != f"promoter.flows.{path.stem}"]
    assert not bad, f"flows/{path.name} imports private names {bad}"


CLI = sorted((PKG / "cli").glob("*.py"))
# commands whose output has not moved into promoter.render yet (owned by other work)
NOT_YET_RENDERED = {"edit_cmds.py"}


@pytest.mark.parametrize("path", [p for p in CLI if p.name not in NOT_YET_RENDERED],
                         ids=lambda p: p.name)
def test_cli_prints_json_only_through_render(path: Path) -> None:
    """Every ``--output json`` goes through promoter.render.json, so one change there (an
    envelope, a schema version) reaches every command."""
    calls = [node.lineno for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "dumps" and isinstance(node.func.value, ast.Name)
             and node.func.value.id == "json"]
    assert not calls, f"cli/{path.name} builds JSON itself at lines {calls}"


def test_console_imports_only_rich_beyond_the_standard_library_and_the_core() -> None:
    """console is the terminal side of the core: rich draws, everything it decides is pure."""
    outside = sorted(n for n in _imports(PKG / "console.py")
                     if n.split(".")[0] not in sys.stdlib_module_names
                     and n.split(".")[0] not in ("rich", "promoter"))
    assert not outside, f"console.py imports {outside}"
