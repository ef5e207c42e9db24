# One rule per figure of the catalogue (hptransfer/figures/catalogue.py). Each rule takes only the
# datasets and the settings of its figure, and lists the figure modules it imports, so editing
# one figure's settings or code redraws that figure alone and a style change redraws figures only.
# The figure job also writes the run's part of the figure's caption (results/figures/fits/<stem>.rst:
# the studies drawn, what the data show, the fitted numbers), which workflow/report/<id>.rst includes
# when the report is built; hptransfer/report.py, which composes it, is an input of every figure.
from functools import partial

from hptransfer.figures.catalogue import CATALOGUE, companion_studies, figure_settings, plot_sources


def figure_inputs(wc, spec):
    inputs = {name: f"results/studies/{wc.study}/{name}.nc" for name in spec.inputs}
    if spec.companions:
        # other studies drawn beside this one (e.g. Fig 17a beside 17b), in order: datasets as <role>_<name>
        others = companion_studies(CFG, spec, wc.study)
        if others is None:
            raise WorkflowError(f"{spec.figure_id}_{wc.study}: no study for a companion of {spec.companions}")
        for role, other in others.items():
            inputs.update({f"{role}_{name}": f"results/studies/{other}/{name}.nc" for name in spec.inputs})
    inputs["style"] = str(PLOTS / "style.py")
    inputs["caption_code"] = "workflow/hptransfer/report.py"
    # the figure's module and the figure modules it imports, so editing a shared panel redraws it
    helpers = [p for p in plot_sources(spec.module) if p != str(PLOTS / "style.py")]
    inputs["module"] = [str(PLOTS / f"{spec.module}.py"), *helpers]
    return inputs


def drawn_studies(wc, spec):
    """The loaded blocks of the studies a figure draws (its own and its companions), for its caption:
    the job reads them from here, as the plot environment cannot load a config."""
    if not spec.kinds:
        return {}
    names = [wc.study, *(companion_studies(CFG, spec, wc.study) or {}).values()]
    return {name: CFG["studies"][name] for name in names}


def stem_settings(wc, spec, stem_pattern):
    """The settings the figure is drawn with: the config's (figures.<stem>) over the catalogue's."""
    return figure_settings(CFG, spec, stem_pattern.format(**dict(wc.items())))


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
                # one category per study, beside its summary; the study-independent schematic apart
                category="{study}" if _spec.kinds else "schematics",
            ),
            fits=f"results/figures/fits/{_stem}.rst",
        log:
            f"results/logs/figures/{_stem}.log",
        conda:
            "../../envs/plot.yaml"
        params:
            module=_spec.module,
            settings=partial(stem_settings, spec=_spec, stem_pattern=_stem),
            studies=partial(drawn_studies, spec=_spec),
        script:
            "../scripts/figure.py"
