from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.collect import collect  # noqa: E402
from hptransfer.io import write_dataset  # noqa: E402

sm = snakemake  # noqa: F821
write_dataset(collect(list(sm.input.runs), sm.wildcards.study, dict(sm.params.study)), sm.output[0])
