rule noise_floor:
    """Each metric between a fresh draw of the true law and the held-out set."""
    input:
        test="results/data/{experiment}/test.npy",
    output:
        "results/metrics/{experiment}/noise_floor.csv",
    log:
        "results/logs/noise_floor/{experiment}.log",
    benchmark:
        "results/benchmarks/noise_floor/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("noise_floor"),
        code=code("noise_floor.py"),
    script:
        "../scripts/noise_floor.py"


rule metrics_table:
    """One long table per experiment: every run, metric and noise floor."""
    input:
        unpack(table_inputs),
    output:
        report(
            "results/metrics/{experiment}.csv",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
    log:
        "results/logs/metrics_table/{experiment}.log",
    benchmark:
        "results/benchmarks/metrics_table/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("metrics_table.py"),
    script:
        "../scripts/metrics_table.py"
