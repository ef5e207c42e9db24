from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.report import write_verdict_table  # noqa: E402

sm = snakemake  # noqa: F821
# one verdict per study, for the report's front page (workflow/report/workflow.rst includes it)
studies = {name: {"kind": kind} for name, kind in sm.params.kinds.items()}
write_verdict_table({"studies": studies}, list(sm.input.datasets), sm.output[0])
