rule evaluate:
    """Score one sampler run against the held-out data and the exact law."""
    input:
        samples="results/{source}/{experiment}/{sampler}-{steps}.npy",
        test="results/data/{experiment}/test.npy",
    output:
        "results/metrics/{experiment}/{source}/{sampler}-{steps}.csv",
    log:
        "results/logs/evaluate/{experiment}/{source}/{sampler}-{steps}.log",
    benchmark:
        "results/benchmarks/evaluate/{experiment}/{source}/{sampler}-{steps}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("data", "sigma"),
        denoiser=denoiser_name,
    script:
        "../scripts/evaluate.py"


rule noise_floor:
    """Each metric between two independent draws of the true law."""
    input:
        test="results/data/{experiment}/test.npy",
        floor="results/data/{experiment}/floor.npy",
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
        exp=settings("data", "n_samples", "model", "reference"),
    script:
        "../scripts/noise_floor.py"


rule metrics_table:
    """One long table per experiment: every run, metric and noise floor."""
    input:
        runs=evaluation_files,
        floor="results/metrics/{experiment}/noise_floor.csv",
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
    script:
        "../scripts/metrics_table.py"
