# The report's front page (workflow/report/workflow.rst) includes a table of one verdict per study,
# written here from the studies' analysis datasets; the figures' captions are written by the figure
# jobs (figures.smk).


rule verdicts:
    input:
        datasets=verdict_inputs,
        code=[*ANALYSIS_CODE, "workflow/hptransfer/report.py", "workflow/hptransfer/figures/findings.py"],
    output:
        "results/verdicts.rst",
    log:
        "results/logs/verdicts.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        # each study's kind, in config order: what the table needs of the config
        kinds=lambda wc: {name: study["kind"] for name, study in enabled_studies(CFG).items()},
    script:
        "../scripts/verdicts.py"
