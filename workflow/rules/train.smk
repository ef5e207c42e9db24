# One job per (study, parametrization, width, hyperparameter value, seed).
# Data: the token arrays of the study's corpus, or the image files of its dataset (sample-wise
# studies; none for the digits that ship with scikit-learn).
from hptransfer.data.images import data_files as image_data_files


rule train:
    input:
        lambda wc: (
            corpus_files(CFG["studies"][wc.study]["corpus"])
            if "corpus" in CFG["studies"][wc.study]
            else image_data_files(CFG["studies"][wc.study]["dataset"])
        ),
    output:
        "results/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}/run.nc",
    params:
        run=lambda wc: run_config(CFG, run_key(wc)),
        data=lambda wc: (
            corpus_dir(CFG["studies"][wc.study]["corpus"])
            if "corpus" in CFG["studies"][wc.study]
            else CFG["studies"][wc.study]["dataset"].get("path", "")
        ),
        device=CFG["device"],
    threads: CFG["threads"]["train"]
    resources:
        gpu=training_gpus(),
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    log:
        "results/logs/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}.log",
    benchmark:
        "results/benchmarks/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"
