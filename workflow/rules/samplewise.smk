# Sample-wise study (paper §4.6, §5.6): its runs go through the `train` rule and `collect`; here the
# MCI analyses (histogram, easy/hard subsets, overlaps) and the transfer analysis of each subset.
from hptransfer.studies import run_owner
from hptransfer.studies.samplewise import reference_keys


rule samplewise:
    input:
        sweep="results/studies/{study}/sweep.nc",
        # the reference run is picked among these (reference width and seed; every LR unless set)
        runs=lambda wc: [run_owner(CFG, k).path for k in reference_keys(CFG, wc.study)],
        data=training_data,
        code=ANALYSIS_CODE,
    output:
        samplewise="results/studies/{study}/samplewise.nc",
        sweep_easy="results/studies/{study}/sweep_easy.nc",
        sweep_hard="results/studies/{study}/sweep_hard.nc",
    log:
        "results/logs/studies/{study}/samplewise.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        study=lambda wc: CFG["studies"][wc.study],
    script:
        "../scripts/samplewise.py"


rule transfer_subset:
    input:
        "results/studies/{study}/sweep_{subset}.nc",
        code=ANALYSIS_CODE,
    output:
        "results/studies/{study}/transfer_{subset}.nc",
    log:
        "results/logs/studies/{study}/transfer_{subset}.log",
    wildcard_constraints:
        subset="easy|hard",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=lambda wc: CFG["studies"][wc.study]["analysis"],
    script:
        "../scripts/transfer.py"
