"""From one experiment's config section to its sampler runs.

Each function takes the job's params (``config.job_params``: the keys that
kind of job reads) and the experiment's name, so every job's logic is
testable without Snakemake. Only numpy here: jobs start fast. Drawing the
data sets is ``datasets``' (it reaches no sampler).
"""

from __future__ import annotations

import numpy as np

from . import process, runner
from .datasets import distribution
from .io import Trajectories
from .seeds import rng_for


def start(exp: dict, name: str, label: str, steps: int, n: int, dim: int) -> np.ndarray:
    """The start batch at t = 1 of one sampler configuration: the process's source.

    Learned runs and their exact-denoiser references draw it from the same
    generator, and the first rows of a larger draw equal a smaller draw, so
    reference sample ``i`` starts where learned sample ``i`` does: for a
    deterministic sampler their distance is the network's error alone.
    """
    rng = rng_for(exp["seed"], name, "start", label, steps)
    return process.from_config(exp).source(n, dim, rng)


# Particles whose paths every run keeps for the animation: the first
# min(n_samples, CLOUD), enough to show the distribution, few enough to draw.
CLOUD = 2000


def _sample(exp, name, label, steps, denoiser, n, trajectory=0, keep=None):
    dist, proc = distribution(exp), process.from_config(exp)
    x1 = start(exp, name, label, steps, n, dist.dim)
    rng = rng_for(exp["seed"], name, "noise", label, steps)
    denoiser = denoiser or process.exact_denoiser(proc, dist)
    return runner.run(denoiser, proc, label, steps, x1, rng, exp["t_min"], trajectory, keep)


def sample_run(exp: dict, name: str, label: str, steps: int, denoiser=None):
    """One sampler configuration; returns (samples, :class:`io.Trajectories`):
    the paths of the first ``n_trajectories`` samples (the figure's lines) and
    of the first ``min(n_samples, CLOUD)`` (the animation's cloud), at the
    grid indices of :func:`runner.recorded_rows`. ``denoiser`` defaults to
    the data's exact one."""
    n = exp["n_samples"]
    k, cloud = min(exp.get("n_trajectories", 50), n), min(CLOUD, n)
    ts = runner.time_grid(label, steps, exp["t_min"])
    rows = runner.recorded_rows(process.from_config(exp), ts)
    x, path = _sample(exp, name, label, steps, denoiser, n, max(k, cloud), rows)
    return x, Trajectories(rows, path[:, :k], path[:, :cloud])


def sweep(exp: dict, name: str, label: str, steps: list[int], denoiser=None) -> dict:
    """One sampler label at each of its step counts: ``{steps: (samples, Trajectories)}``."""
    return {n: sample_run(exp, name, label, n, denoiser) for n in steps}


def reference_run(exp: dict, name: str, label: str, steps: int) -> np.ndarray:
    """A learned experiment's run again with the exact denoiser, from the same starts."""
    return _sample(exp, name, label, steps, None, exp["n_reference"])
