"""Metric tables (pandas): noise floors and each experiment's long table."""

from __future__ import annotations

import pandas as pd

from . import metrics
from .experiment import distribution, floor_draw


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
