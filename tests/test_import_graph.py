"""The package's modules import each other without cycles, and each is imported once, under one name.

A cycle of imports works only as long as every module of the cycle happens to need the
others' names late enough (an import inside a function is the usual way out); it makes
the order of the files matter and the code harder to follow. The graph here is read from
the source with `ast`: every import statement of a module, at the top or inside a
function, except those under `if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "tinygrad_cnn"


def package_modules() -> dict[str, str]:
    """Dotted module name -> path of its file, for every module of the package."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(REPO_ROOT, PACKAGE)):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            parts = os.path.relpath(path, REPO_ROOT)[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def is_type_checking_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_statements(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree, at any depth, except in the body of an `if TYPE_CHECKING:`
    (its `else:` branch runs, so it counts)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if is_type_checking_block(node):
            assert isinstance(node, ast.If)
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(module: str, path: str, known: set[str]) -> set[str]:
    """The modules of the package that `module` imports."""
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    targets: set[str] = set()
    for node in import_statements(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level == 0:
            base = node.module or ""
        else:
            # `from . import x` in a package's __init__ is relative to the package itself,
            # in a plain module to the package that holds it.
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([node.module] if node.module else []))
        # `from package import name`: name may be a submodule, imported as such; any other
        # name comes from the module `base` itself.
        submodules = {f"{base}.{alias.name}" for alias in node.names} & known
        targets.update(submodules)
        if len(submodules) < len(node.names):
            targets.add(base)
    return {target for target in targets if target in known and target != module}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {module: imported_modules(module, path, set(modules)) for module, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph, as [a, b, ..., a], or None (depth-first search, three colours)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]  # the modules being explored, each importing the next
        on_path = {start}
        branches = [iter(sorted(graph[start]))]
        while branches:
            successor = next(branches[-1], None)
            if successor is None:
                done.add(path[-1])
                on_path.discard(path.pop())
                branches.pop()
            elif successor in on_path:
                return path[path.index(successor):] + [successor]
            elif successor not in done:
                path.append(successor)
                on_path.add(successor)
                branches.append(iter(sorted(graph[successor])))
    return None


def test_the_graph_reader_sees_imports_inside_functions_and_skips_type_checking_blocks():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from .c import C\n"
        "else:\n"
        "    from .d import D\n"
        "def f():\n"
        "    from ..e import g\n"
        "    import pkg.f\n"
    )
    names = set()
    for node in import_statements(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or "") + ":" + ",".join(alias.name for alias in node.names))
        else:
            names.update(alias.name for alias in node.names)
    assert names == {"typing:TYPE_CHECKING", ".:b", ".d:D", "..e:g", "pkg.f"}


def test_the_graph_has_every_module_and_resolves_relative_imports():
    graph = import_graph()
    expected = {PACKAGE, f"{PACKAGE}.tensor", f"{PACKAGE}.ops.shape", f"{PACKAGE}.nn.layers", f"{PACKAGE}.train.run"}
    assert expected <= set(graph)
    # `from . import init` in nn/__init__.py, `from .. import functional as F` in nn/layers.py.
    assert f"{PACKAGE}.nn.init" in graph[f"{PACKAGE}.nn"]
    assert f"{PACKAGE}.functional" in graph[f"{PACKAGE}.nn.layers"]


def test_find_cycle():
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_each_module_is_imported_once_under_one_name():
    # Every module of the package, imported after the package itself (as a program would), with a
    # finder that counts how often each module of the package is executed.
    code = (
        "import collections, importlib, importlib.abc, importlib.machinery, os, sys\n"
        "executed = collections.Counter()\n"
        "class CountingFinder(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] != 'tinygrad_cnn':\n"
        "            return None\n"
        "        spec = importlib.machinery.PathFinder.find_spec(name, path)\n"
        "        if spec is not None and spec.loader is not None:\n"
        "            run = spec.loader.exec_module\n"
        "            def exec_module(module, run=run):\n"
        "                executed[module.__name__] += 1\n"
        "                run(module)\n"
        "            spec.loader.exec_module = exec_module\n"
        "        return spec\n"
        "sys.meta_path.insert(0, CountingFinder())\n"
        "import tinygrad_cnn\n"
        f"for name in {sorted(package_modules())!r}:\n"
        "    importlib.import_module(name)\n"
        "files = {}\n"
        "for name, module in list(sys.modules.items()):\n"
        "    path = getattr(module, '__file__', None)\n"
        "    if path and os.path.realpath(path).startswith(os.path.realpath(sys.argv[1])):\n"
        "        files.setdefault(os.path.realpath(path), []).append(name)\n"
        "print({path: names for path, names in files.items() if len(names) > 1})\n"
        "print(sorted(executed.items()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, os.path.join(REPO_ROOT, PACKAGE)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    duplicate_names, executed_line = result.stdout.strip().splitlines()
    # One file, one module: no file of the package imported under two names.
    assert duplicate_names == "{}", duplicate_names
    executed = dict(ast.literal_eval(executed_line))
    assert executed[PACKAGE] == 1 and executed[f"{PACKAGE}.tensor"] == 1, executed
    assert set(executed) == set(package_modules()) | {PACKAGE}, executed
    repeated = sorted(name for name, count in executed.items() if count > 1)
    assert repeated == [], f"modules executed more than once: {repeated}"
