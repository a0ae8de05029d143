rule figure:
    """The experiment's figure and its animation, from saved samples and
    trajectories (restyling reruns nothing else; one job: matplotlib loads once)."""
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            "results/figures/{experiment}.jpg",
            caption=report_caption("figure.rst"),
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
