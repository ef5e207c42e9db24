from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.analysis import analyze_kappa  # noqa: E402
from hptransfer.io import open_dataset, write_dataset  # noqa: E402

write_dataset(
    analyze_kappa(open_dataset(snakemake.input[0]), dict(snakemake.params.analysis)),  # noqa: F821
    snakemake.output[0],
)  # noqa: F821
