from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.figures.render import render_figure  # noqa: E402
from hptransfer.report import write_caption  # noqa: E402

sm = snakemake  # noqa: F821
datasets = {k: v for k, v in sm.input.items() if k not in ("style", "module", "caption_code")}
settings = dict(sm.params.settings)
render_figure(sm.params.module, datasets, settings, sm.output.pdf, sm.output.png)
# the run's part of the report caption: studies and settings, what the data show, the fitted numbers
write_caption(
    {"studies": dict(sm.params.studies)},
    sm.rule.removeprefix("figure_"),
    sm.params.module,
    datasets,
    settings,
    sm.output.fits,
)
