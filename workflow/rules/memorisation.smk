# Memorisation studies (config `memorisation:`): one network per training-set
# size, one job that samples them all beside the ideal denoiser, one figure.


rule memorisation_data:
    """The largest training set (smaller ones are its first rows) and a held-out draw."""
    output:
        train="results/data/{study}/train.npy",
        test="results/data/{study}/test.npy",
    log:
        "results/logs/make_data/{study}.log",
    benchmark:
        "results/benchmarks/make_data/{study}.tsv"
    wildcard_constraints:
        study=alternatives(MEMO),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        exp=memo_settings("make_data"),
        code=code("make_data.py"),
    script:
        "../scripts/make_data.py"


rule memorisation_train:
    """exp3's network and recipe, fitted to the first N points for each N in
    sizes, one after the other: one torch start-up, and no more jobs on the
    cores than they have (each network is a few seconds)."""
    input:
        "results/data/{study}/train.npy",
    output:
        directory("results/models/{study}"),
    log:
        "results/logs/train/{study}.log",
    benchmark:
        "results/benchmarks/train/{study}.tsv"
    wildcard_constraints:
        study=alternatives(MEMO),
    priority: 10
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exp=memo_settings("train"),
        sizes=lambda wildcards: MEMO[wildcards.study]["sizes"],
        threads=torch_threads,
        code=code("memorisation_train.py"),
    script:
        "../scripts/memorisation_train.py"


rule memorisation_study:
    """Every size and sampler with the ideal and the trained denoiser, and a
    fresh draw of the data (chance level), scored."""
    input:
        train="results/data/{study}/train.npy",
        test="results/data/{study}/test.npy",
        models="results/models/{study}",
    output:
        metrics="results/metrics/memorisation/{study}.csv",
        samples="results/runs/{study}.npz",
    log:
        "results/logs/memorisation_study/{study}.log",
    benchmark:
        "results/benchmarks/memorisation_study/{study}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=memo_spec,
        code=code("memorisation_study.py"),
    script:
        "../scripts/memorisation_study.py"


rule memorisation_figure:
    """Memorised fraction and energy distance against N, and the samples of
    the smallest and largest N over their training points."""
    input:
        metrics="results/metrics/memorisation/{study}.csv",
        samples="results/runs/{study}.npz",
        train="results/data/{study}/train.npy",
    output:
        report(
            "results/figures/{study}.jpg",
            caption="../report/memorisation.rst",
            category="Figures",
            subcategory="memorisation",
        ),
    log:
        "results/logs/memorisation_figure/{study}.log",
    benchmark:
        "results/benchmarks/memorisation_figure/{study}.tsv"
    wildcard_constraints:
        study=alternatives(MEMO),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("memorisation_figure.py"),
    script:
        "../scripts/memorisation_figure.py"
