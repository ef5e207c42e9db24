# Corpus → byte-level BPE tokenizer → flat token arrays.


rule prepare_data:
    output:
        tokenizer="results/data/{corpus}/tokenizer.json",
        meta="results/data/{corpus}/meta.json",
        train="results/data/{corpus}/train.bin",
        val="results/data/{corpus}/val.bin",
    log:
        "results/logs/data/{corpus}.log",
    benchmark:
        "results/benchmarks/data/{corpus}.tsv"
    conda:
        "../../envs/train.yaml"
    params:
        corpus=lambda wc: CFG["corpora"][wc.corpus],
    script:
        "../scripts/prepare_data.py"
