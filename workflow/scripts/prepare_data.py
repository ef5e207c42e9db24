from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 - injected by Snakemake

from hptransfer.data.corpus import prepare_corpus  # noqa: E402

prepare_corpus(dict(snakemake.params.corpus), snakemake.output.meta.rsplit("/", 1)[0])  # noqa: F821
