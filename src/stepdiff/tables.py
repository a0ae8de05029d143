"""Each experiment's long metrics table (pandas)."""

from __future__ import annotations

import pandas as pd


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame | None) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor
    (empty where the experiment has none: point masses)."""
    table = pd.concat(runs, ignore_index=True)
    if floor is None:
        table = table.assign(noise_floor=float("nan"))
    else:
        table = table.merge(floor, on=["metric", "n"], how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)
