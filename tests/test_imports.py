"""No import cycle in the package, between modules or between sub-packages (issue 18), with every import
counted: at the top, under TYPE_CHECKING and inside functions. Read with `ast`, so nothing is imported."""

from __future__ import annotations

import ast

from helpers import ROOT

PACKAGE = ROOT / "aster_mm"


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path, modules: set[str]) -> set[str]:
    """The package's modules `path` imports, wherever the import statement stands."""
    name, found = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            # `from x import y`: the module x.y when y is one, else x (a parent package's __init__ runs for any
            # import of its modules, so it is not counted as an edge of its own)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def sub_package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_round_a_circle():
    assert cycles(graph()) == []


def test_no_sub_package_imports_itself_round_a_circle():
    squashed: dict[str, set[str]] = {}
    for module, targets in graph().items():
        squashed.setdefault(sub_package(module), set()).update(
            sub_package(t) for t in targets if sub_package(t) != sub_package(module)
        )
    assert cycles(squashed) == []


def test_the_reader_sees_every_kind_of_import():
    edges = graph()
    assert "aster_mm.core.decisions" in edges["aster_mm.core.actions"]  # from ... import at the top
    assert "aster_mm.simulator.exchange" in edges["aster_mm.simulator"]  # a relative import in __init__
    assert "aster_mm.simulator.queue" in edges["aster_mm.simulator.market_events"]  # from . import queue
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
