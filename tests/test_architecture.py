"""The import graph of the four packages: who may import whom, and no new cycles.

Imports inside functions count (a cycle hidden in a function is still a cycle); imports
under ``if TYPE_CHECKING:`` do not. The cycles that exist today are listed in
:data:`KNOWN_CYCLES`; the list may only shrink: a new cycle fails, and so does a listed one
that no longer exists (remove it from the list).

The hub's shape is held too: its root is the shell only (at most :data:`HUB_ROOT_MAX`
modules, the rest in domain packages), no import sits inside a function, and no private
name (``_x``) is imported from another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "web", "edge_node", "central_hub")

KNOWN_CYCLES: set[frozenset[str]] = set()   # none left; keep it so

HUB_ROOT_MAX = 12

# which top-level package may import which (protocol is pure; the apps meet only in it)
ALLOWED = {
    "protocol": {"protocol"},
    "web": {"web", "protocol"},
    "edge_node": {"edge_node", "web", "protocol"},
    "central_hub": {"central_hub", "web", "protocol"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package, self.names = module, is_package, set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")
            if not self.is_package:
                base = base[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        self.names.add(prefix)
        self.names.update(f"{prefix}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        targets = {resolve(n) for n in visitor.names}
        graph[module] = {t for t in targets if t and t != module
                         and not module.startswith(t + ".")}   # a package's own parents
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_no_new_import_cycles_and_the_known_ones_are_still_there():
    found = cycles(import_graph())
    new = found - KNOWN_CYCLES
    assert not new, f"new import cycles: {[sorted(c) for c in new]}"
    gone = KNOWN_CYCLES - found
    assert not gone, f"these cycles are gone, remove them from KNOWN_CYCLES: " \
                     f"{[sorted(c) for c in gone]}"


def test_layers_import_only_what_they_may():
    for module, targets in import_graph().items():
        top = module.split(".")[0]
        for target in targets:
            assert target.split(".")[0] in ALLOWED[top], f"{module} imports {target}"


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}
    source = "def f():\n    from .b import x\n"
    visitor = _Imports("pkg.a", False)
    visitor.visit(ast.parse(source))
    assert "pkg.b" in visitor.names


def _hub_modules() -> dict[str, tuple[Path, ast.Module]]:
    return {module: (path, ast.parse(path.read_text(encoding="utf-8")))
            for module, path in _modules().items() if module.split(".")[0] == "central_hub"}


def imports_inside_functions(tree: ast.AST) -> list[int]:
    """Line numbers of the import statements that have a function among their ancestors."""
    found = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child.lineno)
            walk(child, in_function or isinstance(child, (ast.FunctionDef,
                                                          ast.AsyncFunctionDef)))
    walk(tree, False)
    return found


def private_imports_across_packages(module: str, is_package: bool, tree: ast.AST,
                                    packages: set[str]) -> list[str]:
    """``from X import _name`` where X is not in the importing module's own package."""
    own = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        visitor = _Imports(module, is_package)
        visitor.visit_ImportFrom(node)
        source = min(visitor.names, key=len)          # the module the names come from
        source_package = source if source in packages else source.rpartition(".")[0]
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__") \
                    and source_package != own:
                out.append(f"{module}:{node.lineno} imports {alias.name} from {source}")
    return out


def test_the_hub_root_holds_only_the_shell():
    root = sorted(path.name for path in (ROOT / "central_hub").glob("*.py"))
    assert len(root) <= HUB_ROOT_MAX, f"central_hub/ holds {len(root)} modules: {root}"


def test_no_module_of_the_hub_imports_inside_a_function():
    found = [f"{module}:{line}" for module, (_, tree) in _hub_modules().items()
             for line in imports_inside_functions(tree)]
    assert not found, f"imports inside functions: {found}"


def test_no_module_of_the_hub_imports_a_private_name_from_another_package():
    modules = _hub_modules()
    packages = {m for m, path in _modules().items() if path.name == "__init__.py"}
    found = [problem for module, (path, tree) in modules.items()
             for problem in private_imports_across_packages(
                 module, path.name == "__init__.py", tree, packages)]
    assert not found, f"private names imported across packages: {found}"


def test_the_shape_checks_find_what_they_look_for():
    source = ("import json\n"
              "def f():\n    import time\n"
              "class C:\n    async def g(self):\n        if True:\n"
              "            from .x import y\n")
    assert imports_inside_functions(ast.parse(source)) == [3, 7]
    tree = ast.parse("from ..identity import _load\nfrom .enrolment import _check\n"
                     "from . import _here\nfrom ..identity import load\n")
    assert private_imports_across_packages("pkg.sync.usb", False, tree, {"pkg", "pkg.sync"}) \
        == ["pkg.sync.usb:1 imports _load from pkg.identity"]


def test_the_edge_node_root_holds_only_the_shell():
    """edge_node's root is the shell (app, cli, config, errors, node, status): the domain
    lives in packages (cases, accounts, disclosure, notices, sync, views, store, demo)."""
    root = sorted(path.name for path in (ROOT / "edge_node").glob("*.py"))
    assert len(root) <= 12, f"edge_node has {len(root)} root modules: {root}"
