from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.analysis import render_summary  # noqa: E402
from hptransfer.io import open_dataset, write_text  # noqa: E402

inputs = snakemake.input  # noqa: F821
kappa = open_dataset(inputs.kappa) if "kappa" in inputs.keys() else None
advice = open_dataset(inputs.advice) if "advice" in inputs.keys() else None
sweep = open_dataset(inputs.sweep) if "sweep" in inputs.keys() else None  # the linearisation gap
write_text(render_summary(open_dataset(inputs.transfer), kappa, advice, sweep), snakemake.output[0])  # noqa: F821
