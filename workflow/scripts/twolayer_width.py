from _common import setup_logging

log = setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from hptransfer.io import write_dataset  # noqa: E402
from hptransfer.train.batched import train_batched  # noqa: E402
from hptransfer.train.checkpoint import CHECKPOINT_NAME  # noqa: E402
from hptransfer.train.device import resolve_device  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
study = dict(sm.params.study)
# beside the output, which Snakemake removes on failure; the checkpoint is kept so a rerun resumes
checkpoint = Path(sm.output[0]).with_name(CHECKPOINT_NAME)
ds = train_batched(
    study,
    int(sm.wildcards.width),
    study["grid"],
    study["seeds"],
    study["steps"],
    study["batch_size"],
    device=str(resolve_device(sm.params.device)),
    progress=log.info,
    checkpoint=checkpoint,
)
log.info("width %s: %d of %d models diverged", sm.wildcards.width, int(ds["diverged"].sum()), ds["diverged"].size)
write_dataset(ds, sm.output[0])
checkpoint.unlink(missing_ok=True)
