"""The layout's rules, read off the code: every module imports, no import cycle (imports inside functions
count), no module over 250 lines, and the top-level packages depend on each other only as ARCHITECTURE.md says."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graph", "nodes", "state", "prompts", "training", "eval", "experiments")
MAX_LINES = 250
# Which top-level package may import which (ARCHITECTURE.md); anything else is a layering error.
ALLOWED = {
    "state": set(),
    "prompts": set(),
    "nodes": {"state", "prompts"},
    "training": {"state", "nodes", "prompts"},
    "graph": {"nodes", "state", "prompts", "training"},
    "eval": {"graph", "nodes", "state", "prompts"},
    "experiments": {"graph", "training", "eval", "nodes", "state", "prompts"},  # the top: nothing imports it
}


def modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules `name` imports anywhere in its body (top level, functions, TYPE_CHECKING blocks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*head, base] if base else head)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        out.update(t for t in targets if t in known and t != name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_between_modules() -> None:
    found = modules()
    graph = {name: imported(name, path, set(found)) for name, path in found.items()}
    assert find_cycle(graph) == []


def test_find_cycle_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_packages_import_only_what_they_may() -> None:
    found = modules()
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in found.items()
        for target in imported(name, path, set(found))
        if (src := name.split(".")[0]) != (dst := target.split(".")[0]) and dst not in ALLOWED[src]
    )
    assert wrong == []


def test_no_module_over_250_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_package_says_what_lives_there() -> None:
    bare = [name for name, path in modules().items() if path.name == "__init__.py"
            and len(ast.get_docstring(ast.parse(path.read_text())) or "") < 60]
    assert bare == []


@pytest.mark.parametrize("name", sorted(n for n in modules() if not n.endswith("__main__")))
def test_module_imports(name: str) -> None:
    importlib.import_module(name)
