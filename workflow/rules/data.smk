rule make_data:
    """Training set, held-out test set and a second held-out draw of one experiment."""
    output:
        train="results/data/{experiment}/train.npy",
        test="results/data/{experiment}/test.npy",
        floor="results/data/{experiment}/floor.npy",
    log:
        "results/logs/make_data/{experiment}.log",
    benchmark:
        "results/benchmarks/make_data/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        exp=settings("data", "seed", "n_samples"),
    script:
        "../scripts/make_data.py"
