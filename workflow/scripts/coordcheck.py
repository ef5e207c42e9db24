from _common import setup_logging

log = setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.data.corpus import load_token_arrays  # noqa: E402
from hptransfer.io import write_dataset  # noqa: E402
from hptransfer.parametrization.coordcheck import study_coordcheck  # noqa: E402

sm = snakemake  # noqa: F821
train, _, meta = load_token_arrays(sm.params.data)
ds = study_coordcheck(dict(sm.params.settings), train, meta["vocab_size"], threads=sm.threads)
ds.attrs["study"] = sm.wildcards.study
late = ds[["activation_slope", "change_slope"]].isel(step=slice(1, None)).mean("step")
log.info("slopes against width (mean over steps 1-%d):\n%s", ds.sizes["step"] - 1, late.to_dataframe().round(2))
write_dataset(ds, sm.output[0])
