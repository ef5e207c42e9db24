# Coordinate check (design.md, "microsoft/mup"): activation and update sizes per layer against width
# under each parametrization, for LM studies that enable `coordcheck`. A few optimizer steps of small
# models on CPU: seconds to a minute, so no GPU and no training resources.
# LM studies request their coordcheck.nc where they enable the check (hptransfer.studies.lm).
from hptransfer.studies.lm import coordcheck_settings


rule coordcheck:
    input:
        training_data,
    output:
        "results/studies/{study}/coordcheck.nc",
    log:
        "results/logs/studies/{study}/coordcheck.log",
    benchmark:
        "results/benchmarks/studies/{study}/coordcheck.tsv"
    conda:
        "../../envs/train.yaml"
    threads: CFG["threads"]["train"]
    params:
        settings=lambda wc: coordcheck_settings(CFG, wc.study),
        data=training_data_dir,
    script:
        "../scripts/coordcheck.py"
