# Corpus → byte-level BPE tokenizer → flat token arrays.


rule prepare_data:
    output:
        tokenizer="results/data/{corpus}/tokenizer.json",
        meta="results/data/{corpus}/meta.json",
        train="results/data/{corpus}/train.bin",
        val="results/data/{corpus}/val.bin",
    params:
        corpus=lambda wc: CFG["corpora"][wc.corpus],
    log:
        "results/logs/data/{corpus}.log",
    benchmark:
        "results/benchmarks/data/{corpus}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/prepare_data.py"
