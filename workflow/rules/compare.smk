# Comparison studies (kind compare): transfer error, stability and optimal-LR exponent per scheme,
# Table 1 of the adaptive-transfer source, and the adaptive-vs-µP verdict.


rule compare:
    input:
        "results/studies/{study}/sweep.nc",
        code=ANALYSIS_CODE,
    output:
        nc="results/studies/{study}/comparison.nc",
        md=report("results/studies/{study}/comparison.md", caption="../report/summary.rst", category="{study}"),
        csv="results/studies/{study}/comparison.csv",
    log:
        "results/logs/studies/{study}/compare.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=lambda wc: CFG["studies"][wc.study]["analysis"],
        tables=lambda wc: {p: CFG["parametrizations"][p] for p in CFG["studies"][wc.study]["parametrizations"]},
    script:
        "../scripts/compare.py"
