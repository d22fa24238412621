"""The layout's rules, checked on the import graph of the product (read with ``ast``, nothing imported).

Layers, bottom to top: ``scrapers`` (records, text, sources) → ``storage`` (the database and the pure diff)
→ ``bot`` (engine, Discord, presentation, demo, command line). Test doubles live in ``tests/`` and nothing
shipped imports them. Imports inside ``if TYPE_CHECKING:`` are for type checkers only and are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "scrapers", "storage", "seeds")
#: what storage may take from scrapers: the neutral records and pure text tools, never a source
STORAGE_MAY_IMPORT = ("scrapers.records", "scrapers.trial_record", "scrapers.trial_ids", "scrapers.text",
                      "scrapers.signals")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(*tops: str) -> dict[str, Path]:
    return {module_name(p): p for top in tops for p in (ROOT / top).rglob("*.py")}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports (anywhere in the file, lazily inside functions too)."""
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".strip(".")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules(*PRODUCT, "bench", "tests")
    known = set(found)
    return {name: imports_of(path, known) for name, path in found.items()}


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(graph: dict[str, set[str]], sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, deps in graph.items() if _in(a, *sources)
                  for b in deps if _in(b, *forbidden))


def test_no_import_cycles_in_the_product(graph: dict[str, set[str]]) -> None:
    product = {m: {d for d in deps if _in(d, *PRODUCT)} for m, deps in graph.items() if _in(m, *PRODUCT)}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(product.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(product):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_scrapers_import_neither_storage_nor_bot(graph: dict[str, set[str]]) -> None:
    assert _violations(graph, ("scrapers",), ("storage", "bot")) == []


def test_storage_imports_no_bot_and_no_source(graph: dict[str, set[str]]) -> None:
    assert _violations(graph, ("storage",), ("bot",)) == []
    sources = tuple(m for m in graph if _in(m, "scrapers") and not _in(m, "scrapers", *STORAGE_MAY_IMPORT)
                    or m == "scrapers.kinds" or m == "scrapers.source")
    assert _violations(graph, ("storage",), sources) == []


def test_records_import_nothing_of_the_project(graph: dict[str, set[str]]) -> None:
    assert graph["scrapers.records"] == set()


def test_nothing_shipped_or_benchmarked_imports_the_tests(graph: dict[str, set[str]]) -> None:
    assert _violations(graph, (*PRODUCT, "bench"), ("tests",)) == []


def test_only_the_main_module_imports_the_command_line(graph: dict[str, set[str]]) -> None:
    importers = sorted(m for m, deps in graph.items() if "bot.cli" in deps and _in(m, *PRODUCT, "bench"))
    assert importers == ["bot.__main__"]


def test_no_folder_holds_more_than_fifteen_modules() -> None:
    crowded = {}
    for top in (*PRODUCT, "bench"):
        for folder in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            count = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
            if count > 15:
                crowded[str(folder.relative_to(ROOT))] = count
    assert crowded == {}


def test_the_rules_can_fail() -> None:
    """A fabricated graph with each kind of violation is caught (the checks above are not vacuous)."""
    fake = {"scrapers.records": {"storage.repo"}, "storage.repo": {"scrapers.records", "bot.app"},
            "bot.app": {"bot.cli"}, "bot.cli": {"bot.app"}}
    assert _violations(fake, ("scrapers",), ("storage", "bot")) == ["scrapers.records imports storage.repo"]
    assert _violations(fake, ("storage",), ("bot",)) == ["storage.repo imports bot.app"]
