# One job per sampler configuration ({sampler} is e.g. ddim or heun_karras):
# it samples and scores its samples, so a run costs one job start-up.


rule sample_analytic:
    """Sample with the exact denoiser of an analytic experiment, and score the samples."""
    input:
        test="results/data/{experiment}/test.npy",
    output:
        samples="results/samples/{experiment}/{sampler}-{steps}.npy",
        trajectories="results/trajectories/{experiment}/{sampler}-{steps}.npy",
        metrics="results/metrics/{experiment}/samples/{sampler}-{steps}.csv",
    log:
        "results/logs/sample/{experiment}/{sampler}-{steps}.log",
    benchmark:
        "results/benchmarks/sample/{experiment}/{sampler}-{steps}.tsv"
    wildcard_constraints:
        experiment=alternatives(ANALYTIC),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("sample"),
        code=code("sample.py"),
    script:
        "../scripts/sample.py"


rule sample_learned:
    """Sample with a trained denoiser, and score the samples."""
    input:
        test="results/data/{experiment}/test.npy",
        model="results/models/{experiment}/denoiser.npz",
    output:
        samples="results/samples/{experiment}/{sampler}-{steps}.npy",
        trajectories="results/trajectories/{experiment}/{sampler}-{steps}.npy",
        metrics="results/metrics/{experiment}/samples/{sampler}-{steps}.csv",
    log:
        "results/logs/sample/{experiment}/{sampler}-{steps}.log",
    benchmark:
        "results/benchmarks/sample/{experiment}/{sampler}-{steps}.tsv"
    wildcard_constraints:
        experiment=alternatives(LEARNED),
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        exp=settings("sample_learned"),
        code=code("sample_learned.py"),
    script:
        "../scripts/sample_learned.py"


rule sample_reference:
    """Sample a learned experiment again with the exact denoiser of its data, from
    the same starts, to separate the network's error from the sampler's; score it."""
    input:
        test="results/data/{experiment}/test.npy",
        paired="results/samples/{experiment}/{sampler}-{steps}.npy",
    output:
        samples="results/reference/{experiment}/{sampler}-{steps}.npy",
        metrics="results/metrics/{experiment}/reference/{sampler}-{steps}.csv",
    log:
        "results/logs/reference/{experiment}/{sampler}-{steps}.log",
    benchmark:
        "results/benchmarks/reference/{experiment}/{sampler}-{steps}.tsv"
    conda:
        "../../envs/numpy.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        exp=settings("reference"),
        code=code("sample_reference.py"),
    script:
        "../scripts/sample_reference.py"
