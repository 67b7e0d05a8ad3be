"""The house's floor plan, read from the imports: each app imports only the apps below it, no app
imports demo/, and no modules import each other round in a circle, within an app or across apps.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Bottom to top: an app may import those before it in this list, never those after it.
LAYERS = ("partner_api", "records", "access", "audit", "care_record", "lcr")
NEVER_IMPORTED = ("demo", "tests", "benchmarks")


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module this file imports, at any depth of the file (function bodies too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path if path.name == "__init__.py" else path.parent, root)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from records import views` imports the module records.views.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    modules = {}
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")):
            modules[_module_name(path)] = _imports(path)
    return modules


MODULES = _modules()


def _app(module: str) -> str:
    return module.split(".")[0]


def test_every_app_of_the_house_is_read():
    assert {_app(m) for m in MODULES} == set(LAYERS)
    assert "care_record.reading" in MODULES
    assert "records.fetching" in MODULES


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_the_apps_below_it(app):
    above = set(LAYERS[LAYERS.index(app) + 1 :]) | set(NEVER_IMPORTED)
    upward = sorted(
        f"{module} imports {imported}"
        for module, imports in MODULES.items()
        if _app(module) == app
        for imported in imports
        if _app(imported) in above
    )
    assert upward == []


def test_no_modules_import_each_other_in_a_circle():
    graph = {
        module: {imported for imported in imports if imported in MODULES and imported != module}
        for module, imports in MODULES.items()
    }
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append(" -> ".join([*path[path.index(imported) :], imported]))
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The reader itself: an import inside a function, and a relative one, both count."""
    (tmp_path / "access").mkdir()
    sample = tmp_path / "access" / "sample.py"
    sample.write_text("def f():\n    from audit.tasks import fetch\n\nfrom . import policy\n")
    assert {"audit.tasks", "access.policy"} <= _imports(sample, tmp_path)


def _named_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for each absolute import of a house module in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return [(module, name) for module, name in found if _app(module) in LAYERS]


def _unresolved(module: str, name: str | None) -> str | None:
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        return f"{module}: {error}"
    if name is None or hasattr(imported, name):
        return None
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return f"{module} has no {name}"
    return None


@pytest.mark.parametrize("folder", NEVER_IMPORTED)
def test_what_lives_outside_the_house_imports_only_what_is_there(folder):
    """demo/, tests/ and benchmarks/ import the apps lazily, inside functions, so a module moved
    or renamed in the house fails only when that function runs (a benchmark in CI, a demo path
    nobody tried). Every such import is resolved here instead."""
    unresolved = sorted(
        f"{path.relative_to(ROOT)}: {problem}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for module, name in _named_imports(path)
        if (problem := _unresolved(module, name))
    )
    assert unresolved == []


def test_the_import_check_sees_a_name_that_has_gone():
    assert _unresolved("records", "reading") == "records has no reading"
    assert _unresolved("care_record", "reading") is None
    assert _unresolved("records.nowhere", None).startswith("records.nowhere")
