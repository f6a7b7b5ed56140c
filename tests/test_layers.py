"""The import rules of ARCHITECTURE.md, read from the code: the rows of who may import whom,
leaves, one wiring, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT

PACKAGE = PROJECT / "watcher"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The watcher modules ``name`` imports (anywhere in it, lazy imports too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}

# ARCHITECTURE.md, "Who may import whom": a module imports only from its own row or those
# before it. A name stands for the module and, unless named on its own, what is under it.
ROWS = [
    ("watcher", "watcher.models", "watcher.errors", "watcher.logs", "watcher.store.atomic",
     "watcher.stopsignal"),
    ("watcher.query", "watcher.schedule", "watcher.sources", "watcher.match", "watcher.digest",
     "watcher.parse", "watcher.render", "watcher.rules", "watcher.rules.load",
     "watcher.relevance", "watcher.scoring", "watcher.feedback", "watcher.library"),
    ("watcher.settings", "watcher.fetch", "watcher.store", "watcher.notify",
     "watcher.rules.index"),
    ("watcher.polling", "watcher.pipeline", "watcher.status", "watcher.rules.watch",
     "watcher.ranking"),
    ("watcher.app",),
    ("watcher.rules.tools", "watcher.daemon", "watcher.cli", "watcher.__main__"),
]  # fmt: skip


def row_of(module: str) -> int:
    name = module
    while name:
        for row, names in enumerate(ROWS):
            if name in names and (name == module or name != "watcher"):
                return row
        name = name.rpartition(".")[0]
    raise AssertionError(f"{module} is in no row of ARCHITECTURE.md")


def test_every_import_goes_to_the_same_row_or_an_earlier_one() -> None:
    wrong = [
        f"{module} -> {dep}"
        for module, deps in sorted(GRAPH.items())
        for dep in sorted(deps)
        if row_of(dep) > row_of(module)
    ]
    assert wrong == []


def test_models_and_errors_are_leaves() -> None:
    assert GRAPH["watcher.models"] == set()
    assert GRAPH["watcher.errors"] == set()


def test_only_app_imports_the_concrete_transports() -> None:
    transports = ("local", "slack", "email", "apprise", "webhook", "atom")
    for transport in (f"watcher.notify.{name}" for name in transports):
        assert {m for m, deps in GRAPH.items() if transport in deps} == {"watcher.app"}


def test_nothing_imports_the_command() -> None:
    assert {m for m, deps in GRAPH.items() if "watcher.cli" in deps} == {"watcher.__main__"}


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own modules is its face, not a dependency.
    graph = {
        m: {d for d in deps if not (MODULES[m].name == "__init__.py" and d.startswith(m + "."))}
        for m, deps in GRAPH.items()
    }
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join([*path[path.index(module) :], module])
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
