"""From one experiment's config section to the arrays of its jobs.

The workflow scripts call these functions (and ``tables``), so every job's
logic is testable without Snakemake. Only numpy here: sampling jobs start fast.
"""

from __future__ import annotations

import numpy as np

from . import data, sampling


def distribution(exp: dict):
    return data.from_config(exp["data"])


def make_data(exp: dict, name: str) -> dict[str, np.ndarray]:
    """Training set, held-out test set and a second held-out draw (for the
    noise floor), each from its own generator."""
    dist = distribution(exp)
    n_train = exp["data"].get("n", exp["n_samples"])
    sizes = {"train": n_train, "test": exp["n_samples"], "floor": exp["n_samples"]}
    return {
        split: np.asarray(dist.sample(n, data.rng_for(exp["seed"], name, split)), dtype=float)
        for split, n in sizes.items()
    }


def sample_run(exp, name, label, steps, denoiser=None, n=None, tag="samples"):
    """One sampler configuration; returns (samples, trajectories).

    ``denoiser`` defaults to the exact one of the experiment's data.
    """
    dist = distribution(exp)
    denoiser = denoiser or dist.denoiser(exp["sigma"])
    rng = data.rng_for(exp["seed"], name, tag, label, steps)
    n = n or exp["n_samples"]
    k = min(exp.get("n_trajectories", 50), n)
    x, path = sampling.run(denoiser, label, steps, n, dist.dim, exp["sigma"], rng, trajectory=max(k, 1))
    return x, path[:, :k]
