# One job per (study, parametrization, width, hyperparameter value, seed).


def train_mem_mb(wc, attempt):
    s = CFG["slurm"]
    return int(s["train_mem_mb_base"] + s["train_mem_mb_per_kwidth"] * int(wc.width) / 1024)


def train_runtime(wc, attempt):
    model = CFG["studies"][wc.study]["model"]
    depth = model_depth(model, int(wc.width))
    minutes = 10 + CFG["slurm"]["train_runtime_min_per_kwidth"] * width_cost(int(wc.width), depth) * 4
    return int(minutes * attempt)


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
