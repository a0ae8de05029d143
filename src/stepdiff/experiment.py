"""From one experiment's config section to the arrays of its jobs.

Each function takes the job's params (``config.job_params``: the keys that
kind of job reads) and the experiment's name, so every job's logic is
testable without Snakemake. Only numpy here: jobs start fast.
"""

from __future__ import annotations

import numpy as np

from . import data, process, sampling


def distribution(exp: dict):
    return data.from_config(exp["data"])


def make_data(exp: dict, name: str) -> dict[str, np.ndarray]:
    """Training set and held-out test set, each from its own generator."""
    dist = distribution(exp)
    sizes = {"train": exp["data"].get("n", exp["n_samples"]), "test": exp["n_samples"]}
    return {
        split: np.asarray(dist.sample(n, data.rng_for(exp["seed"], name, split)), dtype=float)
        for split, n in sizes.items()
    }


def floor_draw(exp: dict, name: str) -> np.ndarray:
    """A second held-out draw for noise floors, as large as the largest sample
    set evaluated (its first ``n`` rows serve size ``n``)."""
    n = max(exp["sizes"])
    return np.asarray(distribution(exp).sample(n, data.rng_for(exp["seed"], name, "floor")), dtype=float)


def start(exp: dict, name: str, label: str, steps: int, n: int, dim: int) -> np.ndarray:
    """The start batch at t = 1 of one sampler configuration: the process's source.

    Learned runs and their exact-denoiser references draw it from the same
    generator, and the first rows of a larger draw equal a smaller draw, so
    reference sample ``i`` starts where learned sample ``i`` does: for a
    deterministic sampler their distance is the network's error alone.
    """
    rng = data.rng_for(exp["seed"], name, "start", label, steps)
    return process.from_config(exp).source(n, dim, rng)


def _sample(exp, name, label, steps, denoiser, n, trajectory):
    dist, proc = distribution(exp), process.from_config(exp)
    x1 = start(exp, name, label, steps, n, dist.dim)
    rng = data.rng_for(exp["seed"], name, "noise", label, steps)
    denoiser = denoiser or process.exact_denoiser(proc, dist)
    return sampling.run(denoiser, proc, label, steps, x1, rng, exp["t_min"], trajectory)


def sample_run(exp: dict, name: str, label: str, steps: int, denoiser=None):
    """One sampler configuration; returns (samples, trajectories of the first
    ``n_trajectories`` samples). ``denoiser`` defaults to the data's exact one."""
    n = exp["n_samples"]
    k = min(exp.get("n_trajectories", 50), n)
    x, path = _sample(exp, name, label, steps, denoiser, n, max(k, 1))
    return x, path[:, :k]


def sweep(exp: dict, name: str, label: str, steps: list[int], denoiser=None) -> dict:
    """One sampler label at each of its step counts: ``{steps: (samples, trajectories)}``."""
    return {n: sample_run(exp, name, label, n, denoiser) for n in steps}


def reference_run(exp: dict, name: str, label: str, steps: int) -> np.ndarray:
    """A learned experiment's run again with the exact denoiser, from the same starts."""
    return _sample(exp, name, label, steps, None, exp["n_reference"], 0)
