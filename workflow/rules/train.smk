# One job per (study, parametrization, width, hyperparameter value, seed).


rule train:
    input:
        lambda wc: corpus_files(CFG["studies"][wc.study]["corpus"]),
    output:
        "results/runs/{study}/{param}/n{width}/{hp}{value}/s{seed}/run.nc",
    params:
        run=lambda wc: run_config(CFG, run_key(wc)),
        data=lambda wc: corpus_dir(CFG["studies"][wc.study]["corpus"]),
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
