"""The code base stays ruff-clean and keeps its import rules (docs/architecture.md): the
import-linter contracts hold and no module of gateway/, archive/ or classifiers/ takes part in
an import circle, type-only and function-level imports included (the linters are pinned in the
test extras). The tests take their shared helpers from tests/support only."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "archive", "classifiers")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def test_ruff_reports_nothing():
    done = subprocess.run([_tool("ruff"), "check", "--quiet", str(ROOT)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_reports_nothing():
    # No arguments: [tool.mypy] in pyproject.toml names the packages and the settings.
    assert importlib.util.find_spec("mypy"), "mypy is not installed: pip install -e '.[test]'"
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_contracts_hold():
    """The layers, forbidden imports and libraries of [tool.importlinter] in pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


# -- import circles ----------------------------------------------------------------------------

def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> modules of ``packages`` it imports, anywhere in its code: at the top, inside
    functions and under ``if TYPE_CHECKING`` alike (each is a dependency a reader must follow)."""
    files = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                while name and name not in graph:
                    name = name.rpartition(".")[0]
                # A module's own package is loaded before it anyway: not an edge of a circle.
                if name and name != module and not module.startswith(name + "."):
                    graph[module].add(name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle():
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 100  # the walk found the code
    assert circles(graph) == []


def test_a_type_only_circle_is_found(tmp_path):
    """The check itself: a circle closed only by a TYPE_CHECKING import or one inside a
    function is still a circle."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n")
    (package / "c.py").write_text("def f():\n    from .a import thing\n")
    (package / "d.py").write_text("import pkg.a\n")
    assert circles(import_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b", "pkg.c"]]


# -- what an intake loads ----------------------------------------------------------------------

def test_an_intake_loads_neither_the_worker_nor_the_classifiers():
    """Intakes get the archive and a queue callable: importing one in a fresh interpreter
    loads no processing, no workflow, no classifier and no spaCy."""
    script = ("import json, sys\n"
              "import gateway.intake.smtp, gateway.intake.imap, gateway.intake.dropfolder\n"
              "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    loaded = json.loads(done.stdout)
    assert "gateway.intake.smtp" in loaded
    heavy = [m for m in loaded if m.startswith(("gateway.processing", "gateway.workflows",
                                                "gateway.bootstrap", "classifiers", "spacy"))]
    assert heavy == []


# -- where test helpers live -------------------------------------------------------------------

def imported_modules(path: Path, module: str) -> list[str]:
    """Every dotted name ``path`` (module ``module``) imports, anywhere in its code; for
    ``from X import a`` both ``X`` and ``X.a``, since ``a`` may be a module."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def helper_import_faults(root: Path) -> list[str]:
    """Imports under ``root``/tests that reach a test helper anywhere but tests/support: from a
    conftest.py (pytest's job to load), from a ``test_*`` module or any other tests module."""
    faults = []
    for path in sorted((root / "tests").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        for name in imported_modules(path, ".".join(parts)):
            pieces = name.split(".")
            in_tests = pieces[0] == "tests" and pieces[:2] != ["tests", "support"]
            test_module = any(p == "conftest" or p.startswith("test_") for p in pieces)
            if in_tests or test_module:
                faults.append(f"{path.relative_to(root)}: imports {name}")
    return faults


def test_test_helpers_come_from_tests_support_only():
    assert len(list((ROOT / "tests" / "support").glob("*.py"))) > 5  # the walk has a target
    assert helper_import_faults(ROOT) == []


def test_a_helper_imported_from_a_test_module_or_conftest_is_found(tmp_path):
    """The check itself: conftest, another test module (absolute, relative, as a module, in a
    function) and a helper module outside tests/support are each reported; support is not."""
    (tmp_path / "tests" / "support").mkdir(parents=True)
    (tmp_path / "tests" / "gateway").mkdir()
    for package in ("tests", "tests/support", "tests/gateway"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "tests" / "helpers.py").write_text("X = 1\n")
    (tmp_path / "tests" / "support" / "mail.py").write_text("from tests.support import waiting\n")
    (tmp_path / "tests" / "gateway" / "test_a.py").write_text(
        "from tests.conftest import make_message\n"
        "from tests.gateway import test_b\n"
        "from .test_b import serve\n"
        "from tests.helpers import X\n"
        "from tests.support.mail import make_message as m\n"
        "def f():\n    import conftest\n")
    assert helper_import_faults(tmp_path) == [
        "tests/gateway/test_a.py: imports tests.conftest.make_message",
        "tests/gateway/test_a.py: imports tests.gateway.test_b",
        "tests/gateway/test_a.py: imports tests.gateway.test_b.serve",
        "tests/gateway/test_a.py: imports tests.helpers.X",
        "tests/gateway/test_a.py: imports conftest",
    ]


_MARKERS = ("<<<<<<< ", "=======\n", ">>>>>>> ")
_TEXT_SUFFIXES = {".py", ".md", ".toml", ".html", ".css", ".txt", ".cfg", ".ini", ".sh", ".yml"}


def conflict_markers(root: Path) -> list[str]:
    """Lines that begin a merge conflict's part in a text file of the tree (``path:line``)."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.suffix not in _TEXT_SUFFIXES or parts[0].startswith(".") or not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if line.startswith(_MARKERS[::2]) or line == _MARKERS[1]:
                    found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_no_merge_conflict_markers_are_committed():
    assert conflict_markers(ROOT) == []


def test_a_conflict_marker_in_a_document_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("text\n<<<<<<< HEAD\nours\n=======\ntheirs\n"
                                            ">>>>>>> branch\n")
    (tmp_path / "b.md").write_text("a table rule\n=======\n")  # a setext heading: a marker too
    assert conflict_markers(tmp_path) == ["b.md:2", "docs/a.md:2", "docs/a.md:4", "docs/a.md:6"]
