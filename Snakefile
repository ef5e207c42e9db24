# hptransfer: does a hyperparameter tuned on a small network transfer to a wide one, and why?
# Stages live in workflow/rules/*.smk; all logic lives in the Python package workflow/hptransfer.

# A preset given with --configfile replaces the default instead of being merged into it, so a preset
# never inherits studies it does not name.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# the front page of `snakemake --report` (a verdict per study and the figures, rule `verdicts`); each
# figure's caption is workflow/report/<figure id>.rst with the part its figure job wrote
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/samplewise.smk"
include: "workflow/rules/coordcheck.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# `snakemake --cores all study_<name>` runs one study of the config (its runs, analyses and the
# figures drawn from it alone)
for _name in enabled_studies(CFG):

    rule:
        name:
            f"study_{_name}"
        input:
            study_targets(_name),
        localrule: True
