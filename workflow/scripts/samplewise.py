from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.analysis.samplewise import analyze_samplewise, reference_run_path, settings_of  # noqa: E402
from hptransfer.data.images import load_images  # noqa: E402
from hptransfer.io import open_dataset, write_dataset  # noqa: E402

sm = snakemake  # noqa: F821
study = dict(sm.params.study)
settings = settings_of(study)
sweep = open_dataset(sm.input.sweep)
reference = open_dataset(reference_run_path(list(sm.input.runs), sweep, settings))
images = load_images({k: v for k, v in study["dataset"].items() if v is not None}).raw_val
out = analyze_samplewise(sweep, reference, settings, images)
for name in ("samplewise", "sweep_easy", "sweep_hard"):
    write_dataset(out[name], sm.output[name])
