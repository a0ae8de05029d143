"""Each experiment's long metrics table (pandas)."""

from __future__ import annotations

import pandas as pd


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor."""
    table = pd.concat(runs, ignore_index=True).merge(floor, on=["metric", "n"], how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)
