"""The package's import graph: no cycle, no lazy import hiding one, no side effect on import."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import tpe_insight

PACKAGE = Path(tpe_insight.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges module -> package modules it imports at run time, and the imports inside functions."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    lazy: list[str] = []
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"

        def visit(node: ast.AST, in_func: bool, mod: str = mod, is_pkg: bool = is_pkg) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child.test):
                    for c in child.orelse:
                        visit(c, in_func)
                    continue
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                        parts = parts[: len(parts) - (child.level - 1)]
                        base = ".".join([*parts, *([child.module] if child.module else [])])
                    targets = [base, *(f"{base}.{a.name}" for a in child.names)]
                for name in targets:
                    if name.split(".")[0] != "tpe_insight":
                        continue
                    target = name
                    while target and target not in files:
                        target = target.rpartition(".")[0]
                    # A submodule imports its packages' __init__ implicitly: not an edge.
                    if target and target != mod and not mod.startswith(target + "."):
                        graph[mod].add(target)
                        if in_func:
                            lazy.append(f"{mod} -> {target} (line {child.lineno})")
                visit(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return graph, lazy


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in sorted(graph):
        if state.get(root):
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_package_has_no_import_cycle() -> None:
    """Every module can be read top-down: the one-way flow of docs/architecture.md."""
    graph, _ = _graph()
    assert len(graph) > 20  # the walk found the package
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a longer one are both reported."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_lazy_import_of_the_package_inside_a_function() -> None:
    """A function-level import is how a cycle hides; there is none."""
    _, lazy = _graph()
    assert lazy == []


def test_importing_the_package_has_no_side_effect() -> None:
    """``import tpe_insight`` (e.g. for ``tpe-insight report``) installs no logging filter and no
    at-fork hook; the first pool does."""
    code = textwrap.dedent(
        """
        import json, logging
        import tpe_insight
        from tpe_insight import _fork
        before = (len(logging.getLogger("concurrent.futures").filters), _fork._installed)
        tpe_insight.ThreadPoolExecutor(1, metrics=False).shutdown()
        after = (len(logging.getLogger("concurrent.futures").filters), _fork._installed)
        print(json.dumps([before, after]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[[0, false], [1, true]]"


def test_structlog_is_imported_only_when_logs_are_on() -> None:
    """A program that never imported structlog cannot have configured it: ``logs=None`` needs
    no import (design note 36); ``logs=True`` imports it and logs."""
    code = textwrap.dedent(
        """
        import json, sys
        import tpe_insight
        with tpe_insight.ThreadPoolExecutor(1, metrics=False) as pool:
            pool.submit(abs, -1).result()
        auto = "structlog" in sys.modules
        with tpe_insight.ThreadPoolExecutor(1, metrics=False, logs=True) as pool:
            logged = pool._tpe.options.log_sink is not None
        print(json.dumps([auto, "structlog" in sys.modules, logged]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip().splitlines()[-1] == "[false, true, true]"
