"""The package's shape: layers whose imports go one way, no import circles, small folders and
modules. CONTRIBUTING.md draws the same layers; this test keeps the drawing true."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"

# top to bottom: a module may import from its own layer and from the layers below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exporter.__main__", "exporter.cli", "exporter.docs", "exporter.healthcheck"),
    ("exporter.app", "exporter.logsetup"),
    ("exporter.demo",),
    ("exporter.web",),
    ("exporter.alerts",),
    ("exporter.exposition",),
    ("exporter.runtime",),
    ("exporter.config",),
    ("exporter.collectors",),
    ("exporter.collecting",),  # the registry finds the collectors by name, never imports them
    ("exporter.rocketchat",),
    ("exporter.model", "exporter"),  # the package itself holds only __version__
)
MAX_MODULES_PER_FOLDER = 16
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> Iterator[str]:
    """Every exporter module `path` imports (type-checking imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names]
            targets = [t if t in known else module for t in targets]
        else:
            continue
        yield from (t for t in targets if t == "exporter" or t.startswith("exporter."))


def layer_of(name: str) -> int:
    best = -1, -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best[1]:
                best = index, len(prefix)
    assert best[0] >= 0, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def graph() -> dict[str, set[str]]:
    return {
        name: {t for t in imported(path, name) if t != name} for name, path in modules().items()
    }


def test_imports_go_down_the_layers_only() -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) < layer_of(name)
    ]
    assert upward == []


def test_no_import_circle_between_modules_or_between_parts() -> None:
    edges = graph()
    part_edges: dict[str, set[str]] = {}
    for name, targets in edges.items():
        for target in targets:
            a, b = part(name), part(target)
            if a != b:
                part_edges.setdefault(a, set()).add(b)
    assert circles(edges) == []
    assert circles(part_edges) == []


def part(name: str) -> str:
    """exporter.web.app -> exporter.web; top-level modules are parts of their own."""
    return ".".join(name.split(".")[:2])


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_layer_check_sees_an_upward_import() -> None:
    assert layer_of("exporter.model.config") > layer_of("exporter.web.app")
    assert layer_of("exporter.collecting.registry") > layer_of("exporter.config.load")


def test_folders_and_modules_stay_small() -> None:
    folders: dict[Path, int] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            folders[path.parent] = folders.get(path.parent, 0) + 1
    crowded = {str(f): n for f, n in folders.items() if n > MAX_MODULES_PER_FOLDER}
    assert crowded == {}
    long = {
        str(p): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
