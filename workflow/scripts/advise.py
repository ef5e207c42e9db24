from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.analysis.advice import advise  # noqa: E402
from hptransfer.analysis.flops import cost_model  # noqa: E402
from hptransfer.io import open_dataset, write_dataset  # noqa: E402

sm = snakemake  # noqa: F821
cost = cost_model(dict(sm.params.study), sm.params.vocab_size)
write_dataset(advise(open_dataset(sm.input.transfer), list(sm.params.targets), cost), sm.output[0])
