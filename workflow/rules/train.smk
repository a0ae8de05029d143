rule train:
    """Fit the MLP denoiser E[x0 | x_t] to an experiment's training set."""
    input:
        "results/data/{experiment}/train.npy",
    output:
        model="results/models/{experiment}/denoiser.npz",
        loss="results/models/{experiment}/loss.csv",
    log:
        "results/logs/train/{experiment}.log",
    benchmark:
        "results/benchmarks/train/{experiment}.tsv"
    wildcard_constraints:
        experiment=alternatives(OWN_MODEL),
    # Everything in a learned experiment waits for the model: start it first.
    priority: 10
    conda:
        "../../envs/torch.yaml"
    # One thread: a 2-thread torch loop sharing two cores with other jobs
    # spun 6x the CPU and ran 7x slower here; one thread loses 25% when idle.
    # Raise with --set-threads train=N on a machine with cores to spare.
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exp=settings("train"),
        threads=torch_threads,
        code=code("train.py"),
    script:
        "../scripts/train.py"


rule train_network:
    """Fit a shared network (a networks entry) on its own draw of its data, over
    its levels: one network for every experiment and process on that data."""
    output:
        model="results/networks/{network}/denoiser.npz",
        loss="results/networks/{network}/loss.csv",
    log:
        "results/logs/train_network/{network}.log",
    benchmark:
        "results/benchmarks/train_network/{network}.tsv"
    priority: 10
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=network_settings,
        threads=torch_threads,
        code=code("train_network.py"),
    script:
        "../scripts/train_network.py"
