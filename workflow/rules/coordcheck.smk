# Coordinate check (design.md, "microsoft/mup"): activation and update sizes per layer against width
# under each parametrization, for LM studies that enable `coordcheck`. A few optimizer steps of small
# models on CPU: seconds to a minute, so no GPU and no training resources.
from hptransfer.config import coordcheck_settings
from hptransfer.plots.catalogue import coordcheck_enabled


# LM studies also request their coordcheck.nc where they enable the check.
for _kind in LM_KINDS:
    STUDY_OUTPUTS[_kind] = lambda name, outputs=STUDY_OUTPUTS[_kind]: outputs(name) + (
        [f"results/studies/{name}/coordcheck.nc"] if coordcheck_enabled(CFG["studies"][name]) else []
    )


rule coordcheck:
    input:
        lambda wc: corpus_files(CFG["studies"][wc.study]["corpus"]),
    output:
        "results/studies/{study}/coordcheck.nc",
    params:
        settings=lambda wc: coordcheck_settings(CFG, wc.study),
        data=lambda wc: corpus_dir(CFG["studies"][wc.study]["corpus"]),
    threads: CFG["threads"]["train"]
    log:
        "results/logs/studies/{study}/coordcheck.log",
    benchmark:
        "results/benchmarks/studies/{study}/coordcheck.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/coordcheck.py"
