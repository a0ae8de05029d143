"""Metric tables of sampler runs (pandas), for the evaluation jobs."""

from __future__ import annotations

import pandas as pd

from . import metrics
from .config import is_learned, parse_label, reference_size
from .experiment import distribution


def evaluate_run(exp, name, samples, test, label, steps, denoiser="learned") -> pd.DataFrame:
    sampler, grid = parse_label(label)
    values = metrics.evaluate(distribution(exp), samples, test, exp["sigma"], label, steps)
    return pd.DataFrame(
        {
            "experiment": name,
            "sampler": sampler,
            "grid": grid,
            "steps": steps,
            "denoiser": denoiser,
            "n": len(samples),
            "metric": list(values),
            "value": list(values.values()),
        }
    )


def sample_sizes(exp) -> list[int]:
    """Sizes of the sample sets an experiment evaluates (runs and references)."""
    sizes = {exp["n_samples"]}
    if is_learned(exp):
        sizes.add(reference_size(exp))
    return sorted(sizes)


def noise_floor(exp, test, floor) -> pd.DataFrame:
    """Each metric between the first ``n`` of two independent true-law draws,
    for each evaluated sample size ``n`` (the floor shrinks with ``n``)."""
    dist = distribution(exp)
    rows = [
        {"metric": metric, "n": n, "noise_floor": value}
        for n in sample_sizes(exp)
        for metric, value in metrics.noise_floor(dist, floor[:n], test).items()
    ]
    return pd.DataFrame(rows, columns=["metric", "n", "noise_floor"])


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor."""
    table = pd.concat(runs, ignore_index=True).merge(floor, on=["metric", "n"], how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)
