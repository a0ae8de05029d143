"""The sampling jobs: one sampler label's sweep of step counts (with the
exact denoiser or a network), a learned run again with the exact denoiser
(its reference), and the scores of each run as table rows. Only numpy here
(and scipy for 1-D scores): jobs start fast."""

from __future__ import annotations

import numpy as np

from .. import process, runner
from ..data import from_config
from ..io import Trajectories
from ..metrics import paired_distance, self_distances
from ..registry import SAMPLERS, parse_label
from ..scores import evaluate
from ..seeds import rng_for

KEYS = {
    "sample": ("curve_threshold", "data", "n_samples", "n_trajectories", "seed", "sigma", "source", "t_min"),
    "sample_learned": (
        "curve_threshold",
        "data",
        "model",
        "n_samples",
        "n_trajectories",
        "seed",
        "sigma",
        "source",
        "t_min",
    ),
    "reference": ("curve_threshold", "data", "n_reference", "seed", "sigma", "source", "t_min"),
}
COLUMNS = ("experiment", "sampler", "grid", "steps", "nfe", "denoiser", "n", "metric", "value")

# Particles whose paths every run keeps for the animation: the first
# min(n_samples, CLOUD), enough to show the distribution, few enough to draw.
CLOUD = 2000


def start(params: dict, name: str, label: str, steps: int, n: int, dim: int) -> np.ndarray:
    """The start batch at t = 1 of one sampler configuration: the process's source.

    Learned runs and their exact-denoiser references draw it from the same
    generator, and the first rows of a larger draw equal a smaller draw, so
    reference sample ``i`` starts where learned sample ``i`` does: for a
    deterministic sampler their distance is the network's error alone.
    """
    rng = rng_for(params["seed"], name, "start", label, steps)
    return process.from_config(params).source(n, dim, rng)


def _sample(params, name, label, steps, denoiser, n, trajectory=0, keep=None):
    law, proc = from_config(params["data"]), process.from_config(params)
    x1 = start(params, name, label, steps, n, law.dim)
    rng = rng_for(params["seed"], name, "noise", label, steps)
    denoiser = denoiser or process.exact_denoiser(proc, law)
    return runner.run(denoiser, proc, label, steps, x1, rng, params["t_min"], trajectory, keep)


def sample_run(params: dict, name: str, label: str, steps: int, denoiser=None):
    """One sampler configuration; returns (samples, :class:`io.Trajectories`):
    the paths of the first ``n_trajectories`` samples (the figure's lines) and
    of the first ``min(n_samples, CLOUD)`` (the animation's cloud), at the
    grid indices of :func:`runner.recorded_rows`. ``denoiser`` defaults to
    the data's exact one."""
    n = params["n_samples"]
    k, cloud = min(params.get("n_trajectories", 50), n), min(CLOUD, n)
    ts = runner.time_grid(label, steps, params["t_min"])
    rows = runner.recorded_rows(process.from_config(params), ts)
    x, path = _sample(params, name, label, steps, denoiser, n, max(k, cloud), rows)
    return x, Trajectories(rows, path[:, :k], path[:, :cloud])


def run_rows(params, name, samples, test, label, steps, denoiser, paired=None, test_self=None) -> list[dict]:
    """One run's metrics as table rows (``COLUMNS``). ``paired``: the learned
    samples from the same starts (for an exact-denoiser reference run); their
    median distance to this run, for a deterministic sampler, is the
    network's error alone."""
    sampler, grid = parse_label(label)
    proc, law = process.from_config(params), from_config(params["data"])
    threshold = params.get("curve_threshold")
    values = evaluate(law, samples, test, proc, label, steps, params["t_min"], test_self, threshold)
    if paired is not None and not SAMPLERS[sampler].stochastic:
        values["paired_dist"] = paired_distance(samples, paired)
    nfe = runner.count_nfe(proc, label, steps, params["t_min"])
    run = (name, sampler, grid, steps, nfe, denoiser, len(samples))
    return [dict(zip(COLUMNS, (*run, metric, value))) for metric, value in values.items()]


def sweep(params: dict, name: str, label: str, steps: list[int], test, denoiser=None):
    """The ``sample`` and ``sample_learned`` jobs: one sampler label at each
    of its step counts, scored against the held-out ``test`` (its
    self-distances computed once). Returns ``({steps: (samples,
    Trajectories)}, rows)``; ``denoiser`` (a network) defaults to the exact one."""
    runs = {n: sample_run(params, name, label, n, denoiser) for n in steps}
    test_self = self_distances(test) if test.shape[1] > 1 else None
    kind = "exact" if denoiser is None else "learned"
    rows = [
        r
        for n, (x, _) in runs.items()
        for r in run_rows(params, name, x, test, label, n, kind, test_self=test_self)
    ]
    return runs, rows


def reference_run(params: dict, name: str, label: str, steps: int) -> np.ndarray:
    """A learned experiment's run again with the exact denoiser, from the same starts."""
    return _sample(params, name, label, steps, None, params["n_reference"])


def reference(params: dict, name: str, label: str, steps: list[int], test, learned: dict):
    """The ``reference`` job: each of a label's reference step counts with
    the exact denoiser, scored and paired with the ``learned`` samples of the
    same count (``{steps: samples}``). Returns ``({steps: samples}, rows)``."""
    runs = {n: reference_run(params, name, label, n) for n in steps}
    rows = [
        r for n, x in runs.items() for r in run_rows(params, name, x, test, label, n, "exact", learned[n])
    ]
    return runs, rows
