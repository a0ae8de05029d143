rule make_data:
    """Training set and held-out test set of one experiment."""
    output:
        train="results/data/{experiment}/train.npy",
        test="results/data/{experiment}/test.npy",
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
        exp=settings("make_data"),
        code=code("make_data.py"),
    script:
        "../scripts/make_data.py"
