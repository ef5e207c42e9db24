from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.figures.render import render_figure  # noqa: E402
from hptransfer.report import write_fitted_numbers  # noqa: E402

sm = snakemake  # noqa: F821
datasets = {k: v for k, v in sm.input.items() if k not in ("style", "module")}
render_figure(sm.params.module, datasets, dict(sm.params.settings), sm.output.pdf, sm.output.png)
write_fitted_numbers(datasets.values(), sm.output.fits)  # for the report's caption
