"""The package's import graph: no circles, and every import points down the layers (``LAYERS`` below).

Function-level imports count (they are real dependencies, only deferred); imports inside an
``if TYPE_CHECKING:`` block do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "wordrnn"
# Lowest first. A module may import its own layer and the layers below it.
LAYERS = ["text", "nn", "store", "train", "runtime", "predict", "evaluation", "keyboard", "serve", "cli"]
RANK = {"config": 0, "errors": 0, "durable": 0, "json_output": 0, **{name: i for i, name in enumerate(LAYERS, start=1)}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)


def imported_names(path: Path, name: str) -> set[str]:
    """Dotted names of everything ``path`` imports from wordrnn (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            for child in node.orelse:  # type: ignore[attr-defined]
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wordrnn"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name if is_package else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rsplit(".", 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.startswith("wordrnn"):
                found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the wordrnn modules it imports (a name resolves to the longest existing module)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for dotted in imported_names(path, name):
            while dotted and dotted not in files:
                dotted = dotted.rpartition(".")[0]
            if dotted and dotted != name and not name.startswith(dotted + ".") and dotted != "wordrnn":
                targets.add(dotted)
        edges[name] = targets
    return edges


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as a list of modules, or None (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        colour[node] = 2
        return None

    for start in sorted(edges):
        if start not in colour and (cycle := walk(start)):
            return cycle
    return None


def test_the_package_has_no_import_circles():
    assert find_cycle(graph()) is None


def test_every_import_points_down_the_layers():
    upward = []
    for source, targets in graph().items():
        for target in targets:
            src, dst = layer(source), layer(target)
            if src and dst and RANK[dst] > RANK[src]:
                upward.append(f"{source} -> {target}")
    assert upward == []


def test_every_module_sits_in_a_layer():
    loose = [m for m in graph() if layer(m) is None and m not in ("wordrnn", "wordrnn.__main__")]
    assert loose == []


def test_the_checker_finds_a_circle_and_an_upward_import():
    """The checks above can fail: a made-up graph with a circle and an upward edge is caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert RANK[layer("wordrnn.cli.app")] > RANK[layer("wordrnn.text.vocab")]
