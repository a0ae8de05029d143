"""The steps-figure job: each metric against NFE, from the metrics table."""

from __future__ import annotations

import numpy as np

from .. import plots

KEYS = {"steps_figure": ("data",)}


def run(params: dict, name: str, table, path) -> None:
    """The figure, with the exact moments of 1-D Gaussian data drawn dashed."""
    data = params["data"]
    moments = (
        {"mean": float(np.ravel(data["mean"])[0]), "std": data["std"]} if data["kind"] == "gaussian" else {}
    )
    plots.steps_figure(table, name, path, moments)
