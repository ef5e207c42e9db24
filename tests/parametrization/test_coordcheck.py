"""The coordinate check of a study (issue 3): its settings from the config, the dataset the
`coordcheck` rule writes (real tokens of the tiny corpus, SP and µP), and its figure.

The physics of the check itself (tolerances measured over seeds, broken µP variants) is tested in
tests/parametrization/test_tables_and_models.py; here the study-level dataset must show the same picture.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from tiny import raw_config

from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config
from hptransfer.data.corpus import load_token_arrays
from hptransfer.figures import catalogue
from hptransfer.figures.coordcheck import draw, layer_groups
from hptransfer.figures.render import render_figure
from hptransfer.figures.style import figure_style
from hptransfer.io import open_dataset, write_dataset
from hptransfer.parametrization.coordcheck import fitted_slopes, study_coordcheck
from hptransfer.studies.lm import coordcheck_settings

# The model of the check in tests/parametrization/test_tables_and_models.py (widths 32–256, depth 2,
# 4 heads, context 16) on the tiny corpus, 8 steps, 2 seeds. Measured (slopes averaged over steps
# 4–8): µP |slope| ≤ 0.16 in every layer; SP hidden changes 0.96…1.27, activations 0.69…1.17, logits
# 0.53. At lr 0.03 (the Markov data's rate there) µP's second block drifts to −0.33…−0.41 on this
# richer data: a finite-width effect of large steps, not of the parametrization, hence the lower
# rate.
STUDY = {
    "widths": [32, 64, 128, 256],
    "grid": [0.01, 0.03, 0.1],
    "model": {"depth": 2, "heads": 4, "context": 16, "base_width": 32},
    "coordcheck": {"enabled": True, "steps": 8, "seeds": 2, "lr": 0.01},
}
GROUPS = ["embedding", "attention", "MLP", "residual stream", "logits"]


def settings_of(study: dict) -> dict:
    return coordcheck_settings(load_config(raw_config(study)), "s")


# -------------------------------------------------------------------------------------- config


def test_settings_default_to_the_study():
    s = settings_of(
        {
            "widths": [16, 32, 64],
            "grid": [0.004, 0.016, 0.064],
            "parametrizations": ["adaptive", "mup"],
            "coordcheck": {"enabled": True},
        }
    )
    assert list(s["tables"]) == ["sp", "mup", "adaptive"]  # SP and µP always, then the study's own
    assert s["tables"]["mup"]["name"] == "mup"
    assert s["widths"] == [16, 32, 64] and s["lr"] == 0.016 and s["steps"] == 10
    assert s["model"]["depth"] == 1 and "depth_rule" not in s["model"]
    assert s["optimizer"]["name"] == "adam"


def test_settings_take_explicit_values():
    s = settings_of(
        {
            "hp": "beta1",
            "grid": [0.8, 0.9],
            "optimizer": {"lr": 0.002},
            "widths": [16, 32],
            "coordcheck": {"enabled": True, "widths": [64, 16], "parametrizations": ["mup"]},
        }
    )
    assert list(s["tables"]) == ["mup"] and s["widths"] == [16, 64]
    assert s["lr"] == 0.002  # another hyperparameter is swept: the optimizer's own learning rate
    assert settings_of({"coordcheck": {"lr": 0.5}, "widths": [16, 32]})["lr"] == 0.5


@pytest.mark.parametrize(
    "coordcheck, message",
    [
        ({"widths": [16, 18]}, "studies.s.coordcheck.widths[1]: width 18 gives an odd head dimension"),
        ({"parametrizations": ["nope"]}, "studies.s.coordcheck.parametrizations: unknown table 'nope'"),
        ({"enabled": True}, "studies.s.coordcheck.widths: a slope against width needs two widths"),
        ({"widths": [16]}, "studies.s.coordcheck.widths: [16] is too short"),
        ({"bogus": 1}, "studies.s.coordcheck.bogus: unknown key"),
    ],
)
def test_invalid_settings_name_the_key(coordcheck, message):
    with pytest.raises(ConfigError) as err:
        load_config(raw_config({"coordcheck": coordcheck}))
    assert message in str(err.value)


def test_figure_only_for_studies_that_enable_the_check():
    cfg = {
        "studies": {
            "a": {"kind": "lm", "coordcheck": {"enabled": True}},
            "b": {"kind": "lm"},
            "c": {"kind": "compare", "coordcheck": {"enabled": True}},
        },
        "figures": {},
    }
    stems = set(catalogue.all_figures(cfg))
    assert {"coordcheck_a", "coordcheck_c"} <= stems and "coordcheck_b" not in stems


# ------------------------------------------------------------------------------------- dataset


@pytest.fixture(scope="module")
def check(tiny_corpus, tmp_path_factory):
    """The rule's dataset, written and read back as the figure rule reads it."""
    train, _, meta = load_token_arrays(tiny_corpus)
    ds = study_coordcheck(settings_of(STUDY), train, meta["vocab_size"])
    path = tmp_path_factory.mktemp("coordcheck") / "coordcheck.nc"
    write_dataset(ds, path)
    return open_dataset(path)


def _late(ds):
    """Slopes averaged over the steps after the first updates have settled (as in test_tables_and_models)."""
    return ds[["activation_slope", "change_slope"]].sel(step=slice(4, None)).mean("step")


def test_dataset_dims_and_values(check):
    assert list(check["parametrization"].values) == ["sp", "mup"]
    assert list(check["width"].values) == STUDY["widths"] and check.sizes["step"] == 9
    assert check["activation_rms"].dims == ("parametrization", "width", "step", "layer")
    assert check["change_slope"].dims == ("parametrization", "step", "layer")
    assert list(layer_groups(check["layer"].values)) == GROUPS
    assert bool((check["change_rms"].sel(step=0) == 0).all())
    assert bool((check["change_rms"].sel(step=slice(1, None)) > 0).all())
    assert check.attrs["lr"] == 0.01 and check.attrs["optimizer"] == "adam" and check.attrs["base_width"] == 32
    # the stored slopes are those of each parametrization's sizes
    mup = check.sel(parametrization="mup")
    np.testing.assert_allclose(fitted_slopes(mup)["change_slope"].values, mup["change_slope"].values)


def test_mup_is_width_independent_and_sp_grows(check):
    late = _late(check)
    print(late.to_dataframe().round(2))
    mup, sp = late.sel(parametrization="mup"), late.sel(parametrization="sp")
    assert float(abs(mup["activation_slope"]).max()) < 0.25
    assert float(abs(mup["change_slope"]).max()) < 0.25
    hidden = [str(name) for name in check["layer"].values if str(name).startswith("block")]
    assert float(sp["change_slope"].sel(layer=hidden).min()) > 0.75
    assert float(sp["change_slope"].sel(layer=hidden).mean()) > 1.0
    assert float(sp["activation_slope"].sel(layer="logits")) > 0.3


# -------------------------------------------------------------------------------------- figure


def test_caption_states_the_slopes_of_the_legends_and_calls_them_flat_only_when_they_are(check):
    """The figure's caption statements (figures.coordcheck.findings): per parametrization the range
    of the slopes its legends show (each layer group's mean, at each step drawn), "width-independent"
    exactly when all lie within FLAT_SLOPE of 0; SP's growing updates are not."""
    from hptransfer.figures.coordcheck import findings
    from hptransfer.figures.findings import FLAT_SLOPE

    steps = [int(s) for s in check["step"].values if s >= 1]
    sp, mup = findings({"coordcheck": check}, {"steps": steps})
    assert sp.startswith("sp:") and "change since init slopes" in sp and "not all near 0" in sp
    groups = layer_groups(check["layer"].values)
    for param, line in (("sp", sp), ("mup", mup)):
        for name, label in (("activation_slope", "activation"), ("change_slope", "change since init")):
            s = check[name].sel(parametrization=param, step=steps)
            means = np.array([s.sel(layer=layers).mean("layer").values for layers in groups.values()])
            lo, hi = np.nanmin(means), np.nanmax(means)
            flat = max(abs(lo), abs(hi)) <= FLAT_SLOPE
            stated = f"{label} slopes {lo:+.2f} to {hi:+.2f} ("
            assert stated + ("all within" if flat else "not all near 0") in line, (param, line)


def test_figure_has_a_panel_per_group_and_parametrization(check):
    with figure_style():
        fig = draw({"coordcheck": check}, {})
    axes = fig.get_axes()
    assert len(axes) == 2 * 2 * len(GROUPS)  # (sp, mup) × (activation, change) rows, one column per group
    assert [ax.get_title() for ax in axes[: len(GROUPS)]] == GROUPS
    for ax in axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(ax.get_lines()) == len(labels) == 5  # default: five steps from 1 to the last
        assert all("slope" in text for text in labels)
    assert axes[0].get_legend().get_texts()[-1].get_text().startswith("t = 8: slope")
    plt.close(fig)


def test_figure_renders_identically(check, tmp_path):
    path = tmp_path / "coordcheck.nc"
    write_dataset(check, path)
    out = []
    for i in range(2):
        pdf, png = tmp_path / f"{i}.pdf", tmp_path / f"{i}.png"
        render_figure(
            "coordcheck",
            {"coordcheck": str(path)},
            {"dpi": 60, "steps": [1, 8], "quantities": ["change_rms"]},
            str(pdf),
            str(png),
        )
        out.append((pdf.read_bytes(), png.read_bytes()))
    assert out[0] == out[1] and len(out[0][1]) > 5_000
