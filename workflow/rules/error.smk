# Where a learned experiment's network is wrong, against the exact denoiser of
# its data (experiments with a model and an exact denoiser).


rule network_error:
    """The network against the exact denoiser over the trained noise levels
    (a table) and over the plane at a few levels (maps)."""
    input:
        test="results/data/{experiment}/test.npy",
        model=model_file,
    output:
        table="results/metrics/{experiment}/error.csv",
        maps="results/runs/{experiment}/error.npz",
    log:
        "results/logs/network_error/{experiment}.log",
    benchmark:
        "results/benchmarks/network_error/{experiment}.tsv"
    wildcard_constraints:
        experiment=alternatives(REFERENCED),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("error"),
        code=code("network_error.py"),
    script:
        "../scripts/network_error.py"


rule error_figure:
    """The error curve and maps, from the table and maps only."""
    input:
        table="results/metrics/{experiment}/error.csv",
        maps="results/runs/{experiment}/error.npz",
    output:
        report(
            "results/figures/{experiment}_error.jpg",
            caption="../report/error.rst",
            category="Figures",
            subcategory="{experiment}",
        ),
    log:
        "results/logs/error_figure/{experiment}.log",
    benchmark:
        "results/benchmarks/error_figure/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("error_figure.py"),
    script:
        "../scripts/error_figure.py"
