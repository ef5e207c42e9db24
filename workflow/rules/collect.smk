# All runs of a study → one sweep dataset (width × hp × seed [× param]).


rule collect:
    input:
        runs=lambda wc: run_paths(CFG, wc.study),
    output:
        "results/studies/{study}/sweep.nc",
    params:
        study=lambda wc: CFG["studies"][wc.study],
    log:
        "results/logs/studies/{study}/collect.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect.py"
