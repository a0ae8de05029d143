# One job per sampler label ({sampler} is e.g. ddim or heun_karras) runs the
# label's whole sweep of step counts and scores its samples: a job costs about
# 0.8 CPU-s to start, more than most runs. Editing one sampler's steps reruns
# that label's job and what is made from it.


rule sample_analytic:
    """A sampler's sweep with the exact denoiser of an analytic experiment, scored."""
    input:
        test="results/data/{experiment}/test.npy",
    output:
        runs="results/runs/{experiment}/{sampler}.npz",
        metrics="results/metrics/{experiment}/samples/{sampler}.csv",
    log:
        "results/logs/sample/{experiment}/{sampler}.log",
    benchmark:
        "results/benchmarks/sample/{experiment}/{sampler}.tsv"
    wildcard_constraints:
        experiment=alternatives(ANALYTIC),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("sample"),
        steps=sweep_steps,
        code=code("sample.py"),
    script:
        "../scripts/sample.py"


rule sample_learned:
    """A sampler's sweep with the trained denoiser, scored."""
    input:
        test="results/data/{experiment}/test.npy",
        model=model_file,
    output:
        runs="results/runs/{experiment}/{sampler}.npz",
        metrics="results/metrics/{experiment}/samples/{sampler}.csv",
    log:
        "results/logs/sample/{experiment}/{sampler}.log",
    benchmark:
        "results/benchmarks/sample/{experiment}/{sampler}.tsv"
    wildcard_constraints:
        experiment=alternatives(LEARNED),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("sample_learned"),
        steps=sweep_steps,
        code=code("sample_learned.py"),
    script:
        "../scripts/sample_learned.py"


rule sample_reference:
    """Sample a learned experiment again with the exact denoiser of its data, from
    the same starts, to separate the network's error from the sampler's; score it.
    One job per sampler label, for the label's reference step counts."""
    input:
        test="results/data/{experiment}/test.npy",
        paired="results/runs/{experiment}/{sampler}.npz",
    output:
        samples="results/reference/{experiment}/{sampler}.npz",
        metrics="results/metrics/{experiment}/reference/{sampler}.csv",
    log:
        "results/logs/reference/{experiment}/{sampler}.log",
    benchmark:
        "results/benchmarks/reference/{experiment}/{sampler}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        exp=settings("reference"),
        steps=reference_steps,
        code=code("sample_reference.py"),
    script:
        "../scripts/sample_reference.py"
