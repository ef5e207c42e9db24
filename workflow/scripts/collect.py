from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.collect import collect_study  # noqa: E402
from hptransfer.io import write_dataset  # noqa: E402

write_dataset(collect_study(list(snakemake.input.runs), snakemake.wildcards.study,  # noqa: F821
                            dict(snakemake.params.study)), snakemake.output[0])  # noqa: F821
