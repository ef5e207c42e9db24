from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.io import write_dataset  # noqa: E402
from hptransfer.synthetic.rf import rf_study  # noqa: E402

write_dataset(rf_study(dict(snakemake.params.study)), snakemake.output[0])  # noqa: F821
