"""The package's shape, enforced: layers as docs/architecture.md lists them, no import cycle,
imports at module top, files and functions of a readable size."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tailorkit.solutions import SOLUTIONS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tailorkit"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
COMMAND_MODULES = re.compile(r"^tailorkit\.(cli\..+|solutions\.[a-z_]+\.commands)$")
MODULE_STRING = re.compile(r"^tailorkit(\.[a-z_0-9]+)+$")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    local: bool  # inside a function
    lazy: bool  # marked "# lazy: <reason>"
    string: bool = False  # a module named in a string (a catalogue entry)


def layers() -> list[list[str]]:
    """The package prefixes of each layer, top first, from the architecture page's table."""
    text = ARCHITECTURE.read_text()
    table = text.split("<!-- layers: begin -->")[1].split("<!-- layers: end -->")[0]
    found = []
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1].startswith("`"):
            found.append(re.findall(r"`([a-z_.]+)`", cells[1]))
    return found


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _resolve(target: str, known: dict[str, Path]) -> str | None:
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def imports(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    local_nodes = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
    }
    logger_names = {
        id(argument)
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "getLogger"
        for argument in call.args
    }
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in logger_names:
                continue
            if MODULE_STRING.match(node.value) and node.value in known:
                found.append(Import(name, node.value, node.lineno, False, False, True))
            continue
        for target in targets:
            resolved = _resolve(target, known)
            if resolved and resolved != name and not name.startswith(resolved + "."):
                text = lines[node.lineno - 1]
                lazy = "# lazy:" in text or "# lazy:" in lines[node.end_lineno - 1]
                found.append(Import(name, resolved, node.lineno, id(node) in local_nodes, lazy))
    return found


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    known = modules()
    return [edge for name, path in known.items() for edge in imports(name, path, known)]


def layer_of(module: str, order: list[list[str]]) -> int:
    best, depth = None, -1
    for index, prefixes in enumerate(order):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best


def test_every_module_has_a_layer():
    order = layers()
    assert len(order) >= 10, "the layer table of docs/architecture.md was not found"
    for module in modules():
        layer_of(module, order)


def test_no_module_imports_a_layer_above_its_own(graph):
    order = layers()
    upward = [
        f"{e.source} (line {e.line}) -> {e.target}"
        for e in graph
        if layer_of(e.target, order) < layer_of(e.source, order)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_there_is_no_import_cycle(graph):
    edges: dict[str, set[str]] = {}
    for edge in graph:
        if not edge.string:
            edges.setdefault(edge.source, set()).add(edge.target)
    cycles = _cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_imports_of_tailorkit_modules_sit_at_module_top(graph):
    hidden = [
        f"{e.source} (line {e.line}) imports {e.target} inside a function"
        for e in graph
        if e.local and not e.lazy and not COMMAND_MODULES.match(e.source)
    ]
    assert not hidden, "\n".join(hidden) + "\n(move to module top, or mark '# lazy: why')"


def test_files_and_functions_stay_readable():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if source.count("\n") + 1 > MAX_FILE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {source.count(chr(10)) + 1} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    too_long.append(f"{where}: {length} lines")
    assert not too_long, "\n".join(too_long)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_the_service_serves_exactly_the_registered_solutions():
    """No table of solution names in serve/: it used to list a `fraud` adapter that no
    solution existed for (dead code); the registry is the one list."""
    source = (PACKAGE / "serve" / "adapters.py").read_text()
    names = {c.value for c in ast.walk(ast.parse(source)) if isinstance(c, ast.Constant)}
    assert not names & (set(SOLUTIONS) | {"fraud"})
