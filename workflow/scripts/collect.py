from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.collect import collect_batched, collect_study  # noqa: E402
from hptransfer.io import write_dataset  # noqa: E402

sm = snakemake  # noqa: F821
study = dict(sm.params.study)
collect = collect_batched if study["kind"] == "twolayer" else collect_study
write_dataset(collect(list(sm.input.runs), sm.wildcards.study, study), sm.output[0])
