# All runs of a study → one sweep dataset (width × hp × seed [× param]).


rule collect:
    input:
        runs=lambda wc: run_paths(CFG, wc.study),
    output:
        "results/studies/{study}/sweep.nc",
    log:
        "results/logs/studies/{study}/collect.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        study=lambda wc: CFG["studies"][wc.study],
    script:
        "../scripts/collect.py"
