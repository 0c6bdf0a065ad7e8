"""No cycles between prereview's top-level packages: each package can be read, tested and
replaced knowing only the packages below it. Built from the source's AST, so imports inside
functions and under TYPE_CHECKING count too (they are dependencies all the same)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import prereview

ROOT = Path(prereview.__file__).parent

ALLOWED: dict[tuple[str, str], str] = {}
"""Edges that close a cycle today, each with the reason it is still there."""


def package_edges() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it."""
    edges: dict[str, dict[str, set[str]]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        package = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "prereview" and len(parts) > 1 and parts[1] != package:
                    edges.setdefault(package, {}).setdefault(parts[1], set()).add(str(rel))
    return edges


def cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> Iterator[list[str]]:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                yield from visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                yield sorted(component)

    for v in sorted(graph):
        if v not in index:
            yield from visit(v)


def test_no_cycles_between_packages() -> None:
    edges = package_edges()
    graph = {a: {b for b in targets if (a, b) not in ALLOWED} for a, targets in edges.items()}
    found = list(cycles(graph))
    detail = [
        f"{a} -> {b} ({', '.join(sorted(edges[a][b]))})"
        for component in found
        for a in component
        for b in component
        if b in graph.get(a, set())
    ]
    assert not found, "package import cycles:\n" + "\n".join(detail)


def test_allowed_edges_still_exist() -> None:
    """An allow-list entry that no longer closes a cycle is removed, not kept as cover."""
    edges = package_edges()
    assert all(b in edges.get(a, {}) for a, b in ALLOWED)


def test_core_packages_name_no_task_family() -> None:
    """planning, review, reports, cli, doctor and demo reach families only through the
    registry: a family's name appears nowhere in their code."""
    from prereview.suites.registry import installed_families

    names = set(installed_families().families)
    core = ["planning", "review", "reports", "cli", "doctor.py", "demo.py"]
    hits = [
        f"{path.relative_to(ROOT)}: {name}"
        for entry in core
        for path in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry])
        for name in names
        if re.search(rf"\b{re.escape(name)}\b", path.read_text("utf-8"))  # `ics` in `metrics`
    ]
    assert not hits
