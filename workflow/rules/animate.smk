# Needs animation_inputs (in common.smk): the figure's trajectory files.


rule animation:
    """The figure's runs as a GIF: particles moving from t = 1 to t = 0, from saved trajectories only."""
    input:
        animation_inputs,
    output:
        report(
            "results/animations/{experiment}.gif",
            caption="../report/animation.rst",
            category="Animations",
            subcategory="{experiment}",
        ),
    log:
        "results/logs/animation/{experiment}.log",
    benchmark:
        "results/benchmarks/animation/{experiment}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        exp=settings("figure"),
        code=code("animation.py"),
    script:
        "../scripts/animation.py"
