"""The backend's import structure: no cycles, nothing from the floors above, imports inside
functions only to defer numba or an optional package (each saying so), and ``import kerasette``
imports no numba."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "kerasette" / "backend"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(BACKEND.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, name: str, is_package: bool):
    """(line, imported module, inside a function) for every import in the file, as
    `import_graph.py` counts them: ``from pkg import name`` is an import of ``pkg.name`` when that
    is a module, else of ``pkg``."""
    modules = _modules()
    tree = ast.parse(path.read_text(), str(path))
    inside = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(fn)}
    base = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                parts = base.split(".")
                src = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in modules else src for a in node.names]
        else:
            continue
        for target in targets:
            yield node.lineno, target, id(node) in inside


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        deps = set()
        for _, target, _ in _imports(path, name, path.name == "__init__.py"):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def test_no_import_cycle_in_the_backend():
    graph = _graph()
    on_top = {"kerasette.backend"}  # the Keras-backend API imports everything; nothing imports it
    for start in graph:
        if start in on_top:
            continue
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for dep in graph[node] - on_top:
                assert dep != start, f"import cycle: {' -> '.join(path + [dep])}"
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
    assert not any("kerasette.backend" in deps for name, deps in graph.items() if name != "kerasette.backend")


def test_the_backend_imports_nothing_from_the_floors_above():
    above = ("kerasette.layers", "kerasette.models", "kerasette.saving", "kerasette.activations",
             "kerasette.losses", "kerasette.metrics", "kerasette.optimizers", "kerasette.callbacks")
    bad = [f"{path.relative_to(ROOT)}:{line} imports {target}"
           for name, path in _modules().items()
           for line, target, _ in _imports(path, name, path.name == "__init__.py")
           if target.startswith(above)]
    assert not bad, bad


def test_imports_inside_functions_only_defer_numba_or_optional_packages_and_say_so():
    found = []
    for name, path in _modules().items():
        lines = path.read_text().splitlines()
        for line, target, inside in _imports(path, name, path.name == "__init__.py"):
            if inside:
                found.append((path.relative_to(ROOT).as_posix(), target))
                assert "# deferred: " in lines[line - 1], f"{path}:{line}: say why the import is deferred"
    # what may be deferred: the floors that compile numba kernels (so that `import kerasette`
    # compiles and imports no numba), numba itself inside the kernels' floor (the compile-ahead
    # module is imported before numba), and optional packages
    numba_floors = ("kerasette.backend.kernels", "kerasette.backend.engine")
    optional = {"threadpoolctl"}

    def allowed(path, target):
        if target.startswith(numba_floors) or target in optional:
            return True
        return path.startswith("kerasette/backend/kernels/") and (target == "numba" or target.startswith("numba."))

    bad = [(path, target) for path, target in found if not allowed(path, target)]
    assert not bad, f"deferred imports of neither numba kernels nor optional packages: {bad}"
    assert ("kerasette/backend/ops/conv.py", "kerasette.backend.engine.conv") in found  # the checker sees them


def test_import_kerasette_imports_no_numba():
    code = "import sys, kerasette, kerasette.backend; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "False"
