rule train:
    """Fit the MLP denoiser E[x0 | x_t] to an experiment's training set."""
    input:
        "results/data/{experiment}/train.npy",
    output:
        model="results/models/{experiment}/denoiser.pt",
        loss="results/models/{experiment}/loss.csv",
    log:
        "results/logs/train/{experiment}.log",
    benchmark:
        "results/benchmarks/train/{experiment}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exp=settings("data", "seed", "sigma", "model"),
    script:
        "../scripts/train.py"
