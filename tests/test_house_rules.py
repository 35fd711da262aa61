"""The rules of the house, enforced by the build: the layer contracts (import-linter, in
pyproject.toml), ruff, the short list of top-level modules, and no import cycle between packages."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib

import grimp

from tests.conftest import REPO

# The leaf modules at the package's top level. Every other module belongs in a package that
# names its part; a new leaf needs a line in ARCHITECTURE.md saying why every face needs it.
ALLOWED_MODULES = {
    "__init__",
    "__main__",
    "errors",
    "progress",
    "atomic_files",
    "paths",
    "recipe",
    "languages",
    "metric_keys",
    "events",
    "devices",
    # Small leaves both faces and the trainer use (ARCHITECTURE.md says why each is one):
    "display_text",
    "command_name",
    "tag_rule",
}
PACKAGES = {
    "cli",
    "tui",
    "runs",
    "study",
    "queue",
    "jobs",
    "training",
    "report",
    "evaluation",
    "models",
    "data",
    "tracking",
}
LINTED = ("hybrid_tui", "tests", "benchmarks")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold() -> None:
    """`lint-imports`: every contract in pyproject.toml is kept (imports inside functions count)."""
    done = _run(
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command\n"
        "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_ruff_check_passes() -> None:
    done = _run(sys.executable, "-m", "ruff", "check", *LINTED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_check_passes() -> None:
    done = _run(sys.executable, "-m", "ruff", "format", "--check", *LINTED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_top_level_holds_only_the_allowed_modules_and_packages() -> None:
    package = REPO / "hybrid_tui"
    modules = {path.stem for path in package.glob("*.py")}
    packages = {path.parent.name for path in package.glob("*/__init__.py")}
    assert modules <= ALLOWED_MODULES, f"move into a package: {sorted(modules - ALLOWED_MODULES)}"
    assert packages <= PACKAGES, (
        f"a package the layer contract does not place: {packages - PACKAGES}"
    )


def _ignored(importer: str, imported: str, ignores: list[str]) -> bool:
    """An import-linter ignore line (`a.** -> b.c`) matches: `**` any depth, `*` one name."""
    for line in ignores:
        source, target = (part.strip() for part in line.split("->"))
        if all(
            fnmatch.fnmatchcase(name, pattern.replace("**", "*"))
            for name, pattern in ((importer, source), (imported, target))
        ):
            return True
    return False


def _top(module: str) -> str:
    """`hybrid_tui.tui.app` -> `hybrid_tui.tui`: the top-level package or module it is in."""
    return ".".join(module.split(".")[:2])


def _package_cycles() -> list[list[str]]:
    """Groups of top-level packages and modules that import each other round a circle, over
    every import (those inside functions too), less the exceptions the acyclic contract names."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    acyclic = next(c for c in contracts["contracts"] if c["type"] == "acyclic_siblings")
    ignores = acyclic.get("ignore_imports", [])
    graph = grimp.build_graph("hybrid_tui", cache_dir=None)
    edges: dict[str, set[str]] = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if _top(importer) != _top(imported) and not _ignored(importer, imported, ignores):
                edges.setdefault(_top(importer), set()).add(_top(imported))
    return _strongly_connected(edges)


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one member (each is a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in edges.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_packages() -> None:
    assert _package_cycles() == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]
    ]
