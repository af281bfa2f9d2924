"""The import graph of ``harness/``: no module imports itself back at run time.

Every module under ``harness/`` is parsed with ``ast``; its imports (at module level and inside
functions alike, since a function-level import is an import at run time too; only the ones under
``if TYPE_CHECKING:`` are left out) are edges of a graph, and a cycle in it fails the test, named
module by module: ``harness.scenario -> harness.abort -> harness.scenario``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness

ROOT = Path(harness.__file__).parent


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The ``harness`` modules ``path`` imports at run time (``from harness.x import y`` names
    ``harness.x.y`` when that is a module, else ``harness.x``; relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return {m for m in found if m in modules and m != name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each module of the package at ``root`` -> the package's modules it imports at run time."""
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    return {module_name(p, root): imports_of(p, modules, root) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the list of its modules (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_no_module_of_harness_imports_itself_back_at_run_time() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_names_a_cycle_hidden_in_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "harness"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from harness.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from harness import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.a import x\n")
    graph = import_graph(pkg)
    assert graph["harness.c"] == set()  # an import for type checkers only is no edge
    assert find_cycle(graph) == ["harness.a", "harness.b", "harness.a"]


def test_loading_a_scenario_leaves_the_evaluation_engine_and_the_aws_clients_unimported() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from harness.scenario import Scenario\n"
        "Scenario.from_dict({'name': 'x', 'target': {'base_url': 'local'}, 'endpoints': [{'name': 'a', 'path': '/a'}],\n"
        "    'load': {'profile': 'burst', 'burst_rate': 5, 'burst_length': 2, 'idle_min': 2, 'idle_max': 3},\n"
        "    'abort_on': ['p95 > 2s'], 'faults': [{'kind': 'latency', 'at': 1, 'duration': 1, 'latency': '5ms'}]})\n"
        "print(sorted(m for m in ('harness.abort', 'harness.gates', 'harness.results', 'harness.faults.recovery', 'harness.auth', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT.parent)
    assert out.stdout.strip() == "[]"
