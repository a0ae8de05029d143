"""Metric tables of sampler runs (pandas), for the evaluation jobs."""

from __future__ import annotations

import pandas as pd

from . import metrics, process
from .config import SAMPLERS, parse_label
from .experiment import distribution, floor_draw


def evaluate_run(exp, name, samples, test, label, steps, denoiser="learned", paired=None) -> pd.DataFrame:
    """One run's metrics. ``paired``: the learned samples from the same starts
    (for an exact-denoiser reference run); their median distance to this run,
    for a deterministic sampler, is the network's error alone."""
    sampler, grid = parse_label(label)
    proc = process.from_config(exp)
    values = metrics.evaluate(distribution(exp), samples, test, proc, label, steps, exp["t_min"])
    if paired is not None and not SAMPLERS[sampler].stochastic:
        values["paired_dist"] = metrics.paired_distance(samples, paired)
    return pd.DataFrame(
        {
            "experiment": name,
            "sampler": sampler,
            "grid": grid,
            "steps": steps,
            "nfe": SAMPLERS[sampler].nfe(steps),
            "denoiser": denoiser,
            "n": len(samples),
            "metric": list(values),
            "value": list(values.values()),
        }
    )


def noise_floor(exp, name, test) -> pd.DataFrame:
    """Each metric between a fresh true-law draw and the held-out set, for each
    evaluated sample size ``n`` (the floor shrinks with ``n``)."""
    dist, floor = distribution(exp), floor_draw(exp, name)
    rows = [
        {"metric": metric, "n": n, "noise_floor": value}
        for n in exp["sizes"]
        for metric, value in metrics.noise_floor(dist, floor[:n], test).items()
    ]
    return pd.DataFrame(rows, columns=["metric", "n", "noise_floor"])


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor."""
    table = pd.concat(runs, ignore_index=True).merge(floor, on=["metric", "n"], how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)
