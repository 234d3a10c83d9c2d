"""The import graph: no module reaches itself again (no circles, at any depth).

The layers themselves are an import-linter contract in pyproject.toml (``make lint``);
this test adds what layers cannot see: circles inside one package.
"""

from __future__ import annotations

import grimp


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    modules = sorted(graph.modules)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if not imported.startswith("prefcenter"):
                continue
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in modules:
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("prefcenter")
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])
