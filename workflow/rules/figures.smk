# One rule per figure of the catalogue (hptransfer/plots/catalogue.py). Each rule takes only the
# datasets and the settings of its figure, and lists the plotting modules it imports, so editing
# one figure's settings or code redraws that figure alone and a style change redraws figures only.
from functools import partial

from hptransfer.plots.catalogue import CATALOGUE, companion_study, plot_sources


def figure_inputs(wc, spec):
    inputs = {name: f"results/studies/{wc.study}/{name}.nc" for name in spec.inputs}
    if spec.companion:
        # a second study drawn beside this one (e.g. Fig 17a beside 17b): its datasets as companion_<name>
        other = companion_study(CFG, spec, wc.study)
        if other is None:
            raise WorkflowError(f"{spec.figure_id}_{wc.study}: no companion study ({spec.companion})")
        inputs.update({f"companion_{name}": f"results/studies/{other}/{name}.nc" for name in spec.inputs})
    inputs["style"] = str(PLOTS / "style.py")
    # the figure's module and the plotting modules it imports, so editing a shared panel redraws it
    helpers = [p for p in plot_sources(spec.module) if p != str(PLOTS / "style.py")]
    inputs["module"] = [str(PLOTS / f"{spec.module}.py"), *helpers]
    return inputs


def figure_settings(wc, spec, stem_pattern):
    stem = stem_pattern.format(**dict(wc.items()))
    return CFG["figures"].get(stem, {})


for _spec in CATALOGUE:
    _stem = f"{_spec.figure_id}_{_spec.slug}" if not _spec.kinds else f"{_spec.figure_id}_{{study}}"

    rule:
        name:
            f"figure_{_spec.figure_id}"
        input:
            unpack(partial(figure_inputs, spec=_spec)),
        output:
            pdf=f"results/figures/{_stem}.pdf",
            png=report(
                f"results/figures/{_stem}.png",
                caption=f"../report/{_spec.figure_id}.rst",
                category="Figures",
                subcategory=_spec.figure_id,
            ),
        params:
            module=_spec.module,
            settings=partial(figure_settings, spec=_spec, stem_pattern=_stem),
        log:
            f"results/logs/figures/{_stem}.log",
        conda:
            "../../envs/plot.yaml"
        script:
            "../scripts/figure.py"
