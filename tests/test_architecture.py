"""The shape of the code: the import graph of ``src/`` and podscribe, read with ``ast``.

- no import cycle between modules (function-level imports count too; imports under
  ``if TYPE_CHECKING:`` never run and are left out of the cycle check);
- no import against the package order written in ``docs/architecture.md`` (type-only
  imports included: a type from a higher layer is still a dependency on it);
- across packages, only a package's door: ``from perdure.core import Engine`` with
  ``Engine`` in ``perdure.core.__all__``, never ``from perdure.core.engine import ...``;
- no ``_private`` name taken from another module, by import or by attribute access on an
  imported module;
- podscribe uses only perdure's public surface;
- each package door is consistent (``__all__``, ``DOORS`` and what the modules define);
- no module over 800 lines.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"perdure": ROOT / "src" / "perdure", "podscribe": ROOT / "podscribe" / "src" / "podscribe"}
MAX_LINES = 800


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (a door import resolved to the module defining the name)
    names: tuple[str, ...]  # names imported from ``target`` as written ("" for ``import x``)
    written: str  # the module as the import statement names it
    line: int
    type_only: bool


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    edges: list[Edge] = field(default_factory=list)


def _module_name(path: Path, sources: dict[str, Path]) -> str:
    for top, base in sources.items():
        if path.is_relative_to(base):
            parts = [top, *path.relative_to(base).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def load_modules(sources: dict[str, Path] = SOURCES) -> dict[str, Module]:
    modules = {}
    for base in sources.values():
        for path in sorted(base.rglob("*.py")):
            name = _module_name(path, sources)
            modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)), path.name == "__init__.py")
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def doors(modules: dict[str, Module], package: str) -> dict[str, str]:
    """A package's public names -> the module that defines each (from its ``DOORS``), or,
    for a package whose ``__init__`` defines or imports its names itself, the package."""
    module = modules[package]
    for node in module.tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOORS" for t in node.targets):
            value = ast.literal_eval(node.value)
            return {name: f"{package}.{source}" for source, names in value.items() for name in names}
    return {name: package for name in declared_all(module)}


def declared_all(module: Module) -> list[str]:
    for node in module.tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def build_graph(modules: dict[str, Module]) -> None:
    for module in modules.values():
        type_only = _type_checking_nodes(module.tree)
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        module.edges.append(Edge(module.name, alias.name, ("",), alias.name, node.lineno, id(node) in type_only))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    written = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    written = node.module or ""
                if written not in modules:
                    continue
                for alias in node.names:
                    target = written
                    if f"{written}.{alias.name}" in modules:
                        target = f"{written}.{alias.name}"  # a submodule
                    elif modules[written].is_package:
                        target = doors(modules, written).get(alias.name, written)
                    module.edges.append(Edge(module.name, target, (alias.name,), written, node.lineno, id(node) in type_only))


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    found = load_modules()
    build_graph(found)
    return found


# -- cycles --------------------------------------------------------------------------


def find_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing
    itself), over the imports that run."""
    graph = {m.name: sorted({e.target for e in m.edges if not e.type_only and e.target != m.name}) for m in modules.values()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative (the graph is deep enough to matter for recursion).
        work: list[tuple[str, Iterator[str]]] = [(start, iter(graph.get(start, [])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return cycles


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    cycles = find_cycles(modules)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_a_cycle_added_on_purpose_is_found(modules: dict[str, Module]) -> None:
    """The check itself: an import from the engine back to the ops that use it closes a
    cycle through ``perdure.ops.waits``, which imports the engine."""
    engine = modules["perdure.core.engine"]
    engine.edges.append(Edge(engine.name, "perdure.ops.waits", ("advance",), "perdure.ops", 1, False))
    try:
        assert any("perdure.core.engine" in c and "perdure.ops.waits" in c for c in find_cycles(modules))
    finally:
        engine.edges.pop()


# -- layers --------------------------------------------------------------------------


def layer_order() -> list[list[str]]:
    """The "Layers:" line of docs/architecture.md: groups separated by ``<``, lowest first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    found = re.search(r"^Layers: (.+)$", text, re.M)
    assert found, "docs/architecture.md has no 'Layers:' line"
    return [[name.strip() for name in group.split(",")] for group in found.group(1).split("<")]


def layer_of(module: str, order: list[list[str]]) -> int | None:
    """The rank of a perdure module's package (None: the facade, ``perdure`` itself)."""
    parts = module.split(".")
    if parts[0] != "perdure" or len(parts) == 1:
        return None
    if parts[1] == "__main__":
        parts[1] = "cli"
    for rank, group in enumerate(order):
        if parts[1] in group:
            return rank
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def upward_imports(modules: dict[str, Module], order: list[list[str]]) -> list[str]:
    wrong = []
    for module in modules.values():
        mine = layer_of(module.name, order)
        if mine is None:
            continue
        for edge in module.edges:
            theirs = layer_of(edge.target, order)
            if theirs is not None and theirs > mine:
                wrong.append(f"{module.path.relative_to(ROOT)}:{edge.line} imports {edge.written}")
    return wrong


def test_every_package_is_in_the_documented_order(modules: dict[str, Module]) -> None:
    order = layer_order()
    for name in modules:
        if name.startswith("perdure."):
            layer_of(name, order)  # raises for a package the doc does not place


def test_no_import_goes_against_the_package_order(modules: dict[str, Module]) -> None:
    wrong = upward_imports(modules, layer_order())
    assert not wrong, "\n".join(wrong)


def test_an_upward_import_added_on_purpose_is_found(modules: dict[str, Module]) -> None:
    store = modules["perdure.store.base"]
    store.edges.append(Edge(store.name, "perdure.core.engine", ("Engine",), "perdure.core", 1, True))
    try:
        assert upward_imports(modules, layer_order()) == ["src/perdure/store/base.py:1 imports perdure.core"]
    finally:
        store.edges.pop()


# -- doors and private names -----------------------------------------------------------


def _package_of(module: Module) -> str:
    """The role package a module belongs to (``perdure.core``), or the top package."""
    parts = module.name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (module.is_package or len(parts) > 2) else parts[0]


def test_across_packages_only_doors_are_used(modules: dict[str, Module]) -> None:
    wrong = []
    for module in modules.values():
        if module.name == "perdure":
            continue  # the facade's own type-only imports
        mine = _package_of(module)
        for edge in module.edges:
            target_package = ".".join(edge.written.split(".")[:2])
            if target_package == mine or edge.written.split(".")[0] != "perdure":
                continue
            if edge.written in ("perdure", "perdure.errors", "perdure.clock", "perdure.testing"):
                continue
            where = f"{module.path.relative_to(ROOT)}:{edge.line}"
            if edge.written != target_package:
                wrong.append(f"{where}: from {edge.written} (use the door, {target_package})")
            elif edge.names[0] not in declared_all(modules[target_package]):
                wrong.append(f"{where}: {edge.names[0]} is not in {target_package}.__all__")
    assert not wrong, "\n".join(wrong)


def test_podscribe_uses_only_perdure_s_public_surface(modules: dict[str, Module]) -> None:
    public = {"perdure", "perdure.errors"} | {f"perdure.{p}" for p in ("console", "ops", "deploy", "core", "run", "http", "store")}
    wrong = [
        f"{m.path.relative_to(ROOT)}:{e.line}: {e.written}"
        for m in modules.values() if m.name.startswith("podscribe")
        for e in m.edges if e.written.startswith("perdure") and e.written not in public
    ]
    assert not wrong, "\n".join(wrong)


def private_uses(modules: dict[str, Module]) -> list[str]:
    wrong = []
    for module in modules.values():
        depth = len(module.name.split(".")) - (0 if module.is_package else 1)
        where = module.path.relative_to(module.path.parents[depth])
        bound: dict[str, str] = {}  # a local name -> the other module it names
        for edge in module.edges:
            name = edge.names[0]
            if name.startswith("_") and not name.startswith("__") and edge.target != module.name:
                wrong.append(f"{where}:{edge.line}: imports {name} from {edge.written}")
            if name and edge.target == f"{edge.written}.{name}":
                bound[name] = edge.target  # ``from package import module``
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.asname and alias.name in bound:
                        bound[alias.asname] = bound[alias.name]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        bound[alias.asname or alias.name.split(".")[0]] = alias.name
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and bound.get(node.value.id, module.name) != module.name
            ):
                wrong.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
    return wrong


def test_no_private_name_is_used_from_another_module(modules: dict[str, Module]) -> None:
    wrong = private_uses(modules)
    assert not wrong, "\n".join(wrong)


def test_a_private_use_added_on_purpose_is_found(tmp_path: Path) -> None:
    base = tmp_path / "perdure"
    (base / "core").mkdir(parents=True)
    (base / "__init__.py").write_text("")
    (base / "core" / "__init__.py").write_text("")
    (base / "core" / "engine.py").write_text("def _secret() -> None: ...\n")
    (base / "core" / "pausing.py").write_text(
        "from perdure.core import engine\nfrom perdure.core.engine import _secret\n\n"
        "def pause() -> None:\n    engine._secret()\n"
    )
    found = load_modules({"perdure": base})
    build_graph(found)
    assert private_uses(found) == [
        "perdure/core/pausing.py:2: imports _secret from perdure.core.engine",
        "perdure/core/pausing.py:5: engine._secret",
    ]


# -- doors, sizes -----------------------------------------------------------------------


def test_each_door_lists_what_its_modules_define(modules: dict[str, Module]) -> None:
    for name, module in modules.items():
        if not module.is_package or not name.startswith("perdure"):
            continue
        assert ast.get_docstring(module.tree), f"{name} has no docstring saying what lives there"
        exported = declared_all(module)
        assert exported, f"{name} has no __all__"
        assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
        imported = importlib.import_module(name)
        for public in exported:
            assert getattr(imported, public) is not None, f"{name}.{public}"
        where = doors(modules, name)
        assert sorted(where) == sorted(exported), f"{name}: __all__ and DOORS differ"
        type_only = {
            alias.asname or alias.name
            for node in module.tree.body if isinstance(node, ast.If)
            for child in node.body if isinstance(child, ast.ImportFrom)
            for alias in child.names
        }
        if any(source != name for source in where.values()):
            assert sorted(type_only) == sorted(exported), f"{name}: the TYPE_CHECKING imports and __all__ differ"


def test_no_module_is_over_800_lines(modules: dict[str, Module]) -> None:
    long = {m.name: n for m in modules.values() if (n := len(m.path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
