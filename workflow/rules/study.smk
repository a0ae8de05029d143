# Studies (one module each in stepdiff/studies/, found by its SECTION): one set
# of rules for every study. The study's module says what each job reads (KEYS),
# what it trains, runs and tabulates, its figure and its caption.


rule study_data:
    """A study's data sets, drawn as an experiment's (its training set is data.n points)."""
    output:
        train="results/studies/{study}/train.npy",
        test="results/studies/{study}/test.npy",
    log:
        "results/logs/study_data/{study}.log",
    benchmark:
        "results/benchmarks/study_data/{study}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        exp=study_settings("data"),
        code=code("make_data.py"),
    script:
        "../scripts/make_data.py"


rule study_train:
    """Every network of a study, one after the other: one torch start-up,
    and no more jobs on the cores than they have."""
    input:
        unpack(study_train_inputs),
    output:
        directory("results/studies/{study}/models"),
    log:
        "results/logs/study_train/{study}.log",
    benchmark:
        "results/benchmarks/study_train/{study}.tsv"
    priority: 10
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=study_settings("train"),
        section=study_section,
        threads=torch_threads,
        code=study_code("study_train.py", "networks"),
    script:
        "../scripts/study_train.py"


rule study_run:
    """A study's runs, scored: its table and its arrays."""
    input:
        unpack(study_run_inputs),
    output:
        table="results/studies/{study}/table.csv",
        arrays="results/studies/{study}/arrays.npz",
    log:
        "results/logs/study_run/{study}.log",
    benchmark:
        "results/benchmarks/study_run/{study}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=study_settings("run"),
        section=study_section,
        code=study_code("study_run.py", "run"),
    script:
        "../scripts/study_run.py"


rule study_figure:
    """A study's figure (its module's figure), from its table and arrays only."""
    input:
        unpack(study_figure_inputs),
    output:
        report(
            "results/figures/{study}.jpg",
            caption=report_caption("study.rst"),
            category="Figures",
            subcategory="studies",
        ),
    log:
        "results/logs/study_figure/{study}.log",
    benchmark:
        "results/benchmarks/study_figure/{study}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        spec=study_settings("figure"),
        section=study_section,
        caption=study_caption,
        experiments=study_experiments,
        code=study_code("study_figure.py", "figure"),
    script:
        "../scripts/study_figure.py"


rule study_animation:
    """A study's animation (its module's animation), from its arrays only."""
    input:
        "results/studies/{study}/arrays.npz",
    output:
        report(
            "results/animations/{study}.gif",
            caption="../report/study_animation.rst",
            category="Animations",
            subcategory="studies",
        ),
    log:
        "results/logs/study_animation/{study}.log",
    benchmark:
        "results/benchmarks/study_animation/{study}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        section=study_section,
        code=study_code("study_animation.py", "animation"),
    script:
        "../scripts/study_animation.py"
