# One rule per figure of the catalogue (hptransfer/plots/catalogue.py). Each rule takes only the
# datasets and the settings of its figure, and lists the plotting modules it imports, so editing
# one figure's settings or code redraws that figure alone and a style change redraws figures only.
from functools import partial

from hptransfer.plots.catalogue import CATALOGUE


def figure_inputs(wc, spec):
    inputs = {name: f"results/studies/{wc.study}/{name}.nc" for name in spec.inputs}
    inputs["style"] = str(PLOTS / "style.py")
    inputs["module"] = str(PLOTS / f"{spec.module}.py")
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
