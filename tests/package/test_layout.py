"""The package's floor plan as tests: no import cycles, no module reaching into another's private
names, a handful of modules at the top, the schema shipped inside the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workflow" / "hptransfer"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``from … import`` statement names (relative levels resolved)."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) of every import of ``name`` inside the package, at any depth
    (a function-level import is a dependency too)."""
    out = []
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom):
            target = resolve(name, node)
            # `from pkg import module` depends on that submodule
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub if sub in MODULES else target, [alias.name], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
    return [(target, names, line) for target, names, line in out if target in MODULES]


def dependency_graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in imports(name) if target != name} for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(dependency_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_no_module_imports_another_modules_private_names():
    offences = [
        f"{name}:{line} imports {target}.{n}"
        for name in MODULES
        for target, names, line in imports(name)
        for n in names
        if n.startswith("_") and target != name
    ]
    assert not offences, "\n".join(offences)


def test_only_a_handful_of_modules_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert top == ["cli", "collect", "io", "report"]


def test_package_modules_are_named_by_stage():
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert packages == [
        "analysis",
        "config",
        "data",
        "decomposition",
        "figures",
        "models",
        "optim",
        "parametrization",
        "studies",
        "synthetic",
        "train",
    ]


@pytest.mark.parametrize("light", ["hptransfer.config.load", "hptransfer.studies", "hptransfer.figures.catalogue"])
def test_what_snakemake_reads_at_parse_time_needs_no_torch(light):
    """Snakemake loads the config and the catalogue in every job and on a cluster's login node."""
    seen, todo = set(), [light]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = MODULES[name].read_text()
        assert "import torch" not in source, f"{light} imports torch through {name}"
        todo += [t for t, _, _ in imports(name)]
