# One job per (study, parametrization, width, hyperparameter value, seed).
# Data: the token arrays of the study's corpus, or the image files of its dataset (sample-wise
# studies; none for the digits that ship with scikit-learn).


rule train:
    input:
        training_data,
    output:
        "results/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}/run.nc",
    log:
        "results/logs/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}.log",
    benchmark:
        "results/benchmarks/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: CFG["threads"]["train"]
    resources:
        gpu=training_gpus(),
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    params:
        run=lambda wc: run_config(CFG, run_key(wc)).to_dict(),
        data=training_data_dir,
        device=CFG["device"],
    script:
        "../scripts/train.py"
