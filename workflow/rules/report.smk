# The report's caption files, written once the tables exist: a figure job
# never reads them, so a changed table reruns this job alone.


rule captions:
    """Each caption template of workflow/report/ with its figures' results tables."""
    input:
        unpack(caption_inputs),
    output:
        figure="results/report/captions/figure.rst",
        study="results/report/captions/study.rst",
    log:
        "results/logs/captions/captions.log",
    benchmark:
        "results/benchmarks/captions/captions.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        templates=caption_templates,
        experiments=sorted(EXP),
        studies=tabled_studies,
        code=tables_code("captions.py", "result_table"),
    script:
        "../scripts/captions.py"
