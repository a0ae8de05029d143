rule figure:
    """The experiment's figure and its animation, from saved samples and
    trajectories (restyling reruns nothing else; one job: matplotlib loads once)."""
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            "results/figures/{experiment}.jpg",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{experiment}",
        ),
        animation=report(
            "results/animations/{experiment}.gif",
            caption="../report/animation.rst",
            category="Animations",
            subcategory="{experiment}",
        ),
    log:
        "results/logs/figure/{experiment}.log",
    benchmark:
        "results/benchmarks/figure/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        exp=settings("figure"),
        shown=final_steps,
        code=code("figure.py"),
    script:
        "../scripts/figure.py"


rule steps_figure:
    """Metric against number of steps, one line per sampler and grid."""
    input:
        "results/metrics/{experiment}.csv",
    output:
        report(
            "results/figures/{experiment}_steps.jpg",
            caption="../report/steps.rst",
            category="Figures",
            subcategory="{experiment}",
        ),
    log:
        "results/logs/steps_figure/{experiment}.log",
    benchmark:
        "results/benchmarks/steps_figure/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        exp=settings("steps_figure"),
        code=code("steps_figure.py"),
    script:
        "../scripts/steps_figure.py"


rule comparison_figure:
    """One metric against NFE for several experiments on the same axes."""
    input:
        comparison_tables,
    output:
        report(
            "results/figures/{comparison}.jpg",
            caption="../report/comparison.rst",
            category="Figures",
            subcategory="comparisons",
        ),
    log:
        "results/logs/comparison_figure/{comparison}.log",
    benchmark:
        "results/benchmarks/comparison_figure/{comparison}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        spec=comparison_spec,
        code=code("comparison_figure.py"),
    script:
        "../scripts/comparison_figure.py"


rule start_study:
    """The start study's runs with the exact denoiser, N(0, sigma^2) against p_1,
    and with its own networks (if it has a model section)."""
    input:
        unpack(start_models),
    output:
        "results/metrics/starts/{study}.csv",
    log:
        "results/logs/start_study/{study}.log",
    benchmark:
        "results/benchmarks/start_study/{study}.tsv"
    wildcard_constraints:
        study=alternatives(STARTS),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=start_part(
            "data", "sigmas", "sampler", "steps", "n_samples", "seed", "sigma_min"
        ),
        code=code("start_study.py"),
    script:
        "../scripts/start_study.py"


rule start_figure:
    """Energy against sigma: exact from N(0, sigma^2), from p_1, and learned."""
    input:
        study="results/metrics/starts/{study}.csv",
        learned=start_learned,
    output:
        report(
            "results/figures/{study}.jpg",
            caption="../report/start.rst",
            category="Figures",
            subcategory="comparisons",
        ),
    log:
        "results/logs/start_figure/{study}.log",
    benchmark:
        "results/benchmarks/start_figure/{study}.tsv"
    wildcard_constraints:
        study=alternatives(STARTS),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        spec=start_part("sampler", "steps"),
        sigmas=start_sigmas,
        code=code("start_figure.py"),
    script:
        "../scripts/start_figure.py"
