from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.config.run import RunConfig  # noqa: E402
from hptransfer.train.job import train_run  # noqa: E402

train_run(
    RunConfig.from_dict(dict(snakemake.params.run)),
    snakemake.params.data,
    snakemake.output[0],  # noqa: F821
    threads=snakemake.threads,
    device=snakemake.params.device,
)  # noqa: F821
