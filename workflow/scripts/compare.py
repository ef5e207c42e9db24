from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.analysis import analyze_comparison, comparison_table, render_comparison_summary  # noqa: E402
from hptransfer.io import open_dataset, write_dataset, write_text  # noqa: E402

sm = snakemake  # noqa: F821
cfg = {**dict(sm.params.analysis), "tables": dict(sm.params.tables)}
ds = analyze_comparison(open_dataset(sm.input[0]), cfg)
_, table_csv = comparison_table(ds)
write_dataset(ds, sm.output.nc)
write_text(render_comparison_summary(ds), sm.output.md)  # Table 1, exponents, verdict
write_text(table_csv, sm.output.csv)
