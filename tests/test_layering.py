"""The package's import graph: no cycle, and each layer imports only the layers below it.

Read from the source (every ``import``, module-level or inside a function), so
it checks in milliseconds what importing each module alone would find.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wtal_tf"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from wtal_tf.x import y": y is a module of x or a name in x
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph):
    """Every cycle's modules (Tarjan's strongly connected components of size > 1)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_hand_made_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert _cycles(_import_graph()) == []


# what each package may import from wtal_tf (besides itself and the package root's
# errors / io_utils / runs / __init__)
ALLOWED = {
    "wtal_tf.ops": set(),
    "wtal_tf.layers": {"wtal_tf.ops"},
    "wtal_tf.models": {"wtal_tf.ops", "wtal_tf.layers", "wtal_tf.configs"},
    "wtal_tf.inference": {"wtal_tf.ops", "wtal_tf.layers", "wtal_tf.configs", "wtal_tf.data",
                          "wtal_tf.models"},
    "wtal_tf.training": {"wtal_tf.ops", "wtal_tf.layers", "wtal_tf.configs", "wtal_tf.data",
                         "wtal_tf.models", "wtal_tf.inference", "wtal_tf.evaluation",
                         "wtal_tf.viz"},
}
ROOT = {"wtal_tf", "wtal_tf.errors", "wtal_tf.io_utils", "wtal_tf.runs"}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_layers_below(package):
    graph = _import_graph()
    allowed = ALLOWED[package] | {package}
    if package in ("wtal_tf.ops", "wtal_tf.layers", "wtal_tf.models"):
        allowed_root = {"wtal_tf"}  # the math and the models read no files
    else:
        allowed_root = ROOT
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() if _package(m) == package
                   for t in targets if _package(t) not in allowed and t not in allowed_root)
    assert wrong == []
