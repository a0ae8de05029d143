"""Metric tables of sampler runs (pandas), for the evaluation jobs."""

from __future__ import annotations

import pandas as pd

from . import metrics
from .config import parse_label
from .experiment import distribution


def evaluate_run(exp, name, samples, test, label, steps, denoiser="learned") -> pd.DataFrame:
    sampler, grid = parse_label(label)
    values = metrics.evaluate(distribution(exp), samples, test, exp["sigma"], label, steps)
    return pd.DataFrame({"experiment": name, "sampler": sampler, "grid": grid, "steps": steps,
                         "denoiser": denoiser, "metric": list(values), "value": list(values.values())})


def noise_floor(exp, test, floor) -> pd.DataFrame:
    values = metrics.noise_floor(distribution(exp), floor, test)
    return pd.DataFrame({"metric": list(values), "noise_floor": list(values.values())})


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor."""
    table = pd.concat(runs, ignore_index=True).merge(floor, on="metric", how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)
