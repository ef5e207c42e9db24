"""Each figure's settings are closed and known to the catalogue: every setting a drawer reads is
declared (FigureSpec.settings_schema), the catalogue's own defaults pass, and nothing else does."""

from __future__ import annotations

import ast
from pathlib import Path

import jsonschema
import pytest

from hptransfer.figures import catalogue

FIGURES = Path(catalogue.__file__).resolve().parent


def _keys_read(tree: ast.AST) -> dict[str | None, set[str]]:
    """Literal keys read from a variable named ``settings`` (``settings["k"]``, ``settings.get("k")``,
    ``"k" in settings``), per enclosing top-level function (None: module level)."""
    out: dict[str | None, set[str]] = {}

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            scope = child.name if isinstance(child, ast.FunctionDef) and function is None else function
            key = None
            if isinstance(child, ast.Subscript) and getattr(child.value, "id", None) == "settings":
                key = child.slice
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and getattr(child.func.value, "id", None) == "settings"
                and child.func.attr == "get"
            ):
                key = child.args[0]
            elif isinstance(child, ast.Compare) and any(
                getattr(c, "id", None) == "settings" for c in child.comparators
            ):
                key = child.left
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                out.setdefault(scope, set()).add(key.value)
            visit(child, scope)

    visit(tree, None)
    return out


def settings_a_drawer_reads(module: str) -> set[str]:
    """What ``module`` reads itself, through the selection helpers it imports, and, where it merges
    its own DEFAULT_SETTINGS under the figure's settings (the schematic), the keys of those."""
    tree = ast.parse((FIGURES / f"{module}.py").read_text())
    keys = set().union(*_keys_read(tree).values())
    helpers = _keys_read(ast.parse((FIGURES / "selection.py").read_text()))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "selection":
            keys |= set().union(*(helpers.get(alias.name, set()) for alias in node.names))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DEFAULT_SETTINGS" for t in node.targets):
            keys |= {k.value for k in node.value.keys}
    return keys


@pytest.mark.parametrize("spec", catalogue.CATALOGUE, ids=lambda s: s.figure_id)
def test_every_setting_a_drawer_reads_is_declared(spec):
    declared = set(spec.settings_schema("lr")["properties"])
    assert settings_a_drawer_reads(spec.module) - declared == set(), (
        f"{spec.module}.py reads settings that DRAWER_SETTINGS in catalogue.py does not declare"
    )


def test_the_reader_finds_what_drawers_read():
    assert {"ylim", "xlim", "clip_steps", "match_fig08_scale", "widths"} <= settings_a_drawer_reads("residual_curves")
    assert {"k", "seed"} <= settings_a_drawer_reads("topk_vs_step")
    assert {"alpha", "annotate_width", "curvature_shift"} <= settings_a_drawer_reads("gap_schematic")


@pytest.mark.parametrize("spec", catalogue.CATALOGUE, ids=lambda s: s.figure_id)
def test_catalogue_defaults_are_valid_settings(spec):
    jsonschema.validate(spec.defaults, spec.settings_schema("lr"))


def test_the_swept_value_is_named_by_the_studys_hyperparameter():
    spec = next(s for s in catalogue.CATALOGUE if s.figure_id == "fig10")
    assert "beta1" in spec.settings_schema("beta1")["properties"]
    assert "lr" not in spec.settings_schema("beta1")["properties"]
    assert set(catalogue.HP_NAMES) <= set(spec.settings_schema(None)["properties"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ylimm": [3, 6]}, spec.settings_schema("lr"))
