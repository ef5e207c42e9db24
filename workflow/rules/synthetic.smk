# Synthetic studies (paper §2–3): random-features ridge from its deterministic equivalent, and
# two-layer ReLU networks trained as one batched model per width (all learning rates and seeds).


rule rf_ridge:
    output:
        "results/studies/{study}/rf.nc",
    log:
        "results/logs/studies/{study}/rf_ridge.log",
    benchmark:
        "results/benchmarks/studies/{study}/rf_ridge.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: CFG["threads"]["analysis"]
    params:
        study=lambda wc: CFG["studies"][wc.study],
    script:
        "../scripts/rf_ridge.py"


rule twolayer_width:
    output:
        "results/runs/{study}/mup/n{width}/batch.nc",
    log:
        "results/logs/runs/{study}/n{width}.log",
    benchmark:
        "results/benchmarks/runs/{study}/n{width}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: CFG["threads"]["train"]
    resources:
        gpu=training_gpus(),
    params:
        study=lambda wc: CFG["studies"][wc.study],
        device=CFG["device"],
    script:
        "../scripts/twolayer_width.py"
