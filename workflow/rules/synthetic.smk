# Synthetic studies (paper §2–3): random-features ridge from its deterministic equivalent, and
# two-layer ReLU networks trained as one batched model per width (all learning rates and seeds).


rule rf_ridge:
    output:
        "results/studies/{study}/rf.nc",
    params:
        study=lambda wc: CFG["studies"][wc.study],
    threads: CFG["threads"]["analysis"]
    log:
        "results/logs/studies/{study}/rf_ridge.log",
    benchmark:
        "results/benchmarks/studies/{study}/rf_ridge.tsv"
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/rf_ridge.py"


rule twolayer_width:
    output:
        "results/runs/{study}/mup/n{width}/batch.nc",
    params:
        study=lambda wc: CFG["studies"][wc.study],
        device=CFG["device"],
    threads: CFG["threads"]["train"]
    resources:
        gpu=training_gpus(),
    log:
        "results/logs/runs/{study}/n{width}.log",
    benchmark:
        "results/benchmarks/runs/{study}/n{width}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/twolayer_width.py"
