# Sweep → transfer analysis (optima, rates, verdict), Algorithm 1 (κ̂), transfer advice, a readable summary.


rule transfer:
    input:
        "results/studies/{study}/sweep.nc",
        code=ANALYSIS_CODE,
    output:
        "results/studies/{study}/transfer.nc",
    log:
        "results/logs/studies/{study}/transfer.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=lambda wc: CFG["studies"][wc.study]["analysis"],
    script:
        "../scripts/transfer.py"


rule kappa:
    input:
        "results/studies/{study}/sweep.nc",
        code=ANALYSIS_CODE,
    output:
        "results/studies/{study}/kappa.nc",
    log:
        "results/logs/studies/{study}/kappa.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=lambda wc: CFG["studies"][wc.study]["analysis"],
    script:
        "../scripts/kappa.py"


rule advise:
    input:
        transfer="results/studies/{study}/transfer.nc",
        code=ANALYSIS_CODE,
    output:
        "results/studies/{study}/advice.nc",
    log:
        "results/logs/studies/{study}/advise.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        targets=advice_targets,
        study=lambda wc: CFG["studies"][wc.study],
        vocab_size=vocab_size,
    script:
        "../scripts/advise.py"


rule summary:
    input:
        unpack(summary_inputs),
        code=ANALYSIS_CODE,
    output:
        # in the report beside the study's figures (category: the study)
        report("results/studies/{study}/summary.md", caption="../report/summary.rst", category="{study}"),
    log:
        "results/logs/studies/{study}/summary.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summary.py"
