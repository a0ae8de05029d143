"""The noise-floor job: each metric between two true-law draws, per sample size."""

from __future__ import annotations

import numpy as np

from ..data import from_config
from ..metrics import noise_floor
from ..seeds import rng_for

KEYS = {"noise_floor": ("data", "seed", "sizes")}
COLUMNS = ("metric", "n", "noise_floor")


def draw(params: dict, name: str) -> np.ndarray:
    """A second held-out draw, as large as the largest sample set evaluated
    (its first ``n`` rows serve size ``n``)."""
    n = max(params["sizes"])
    return np.asarray(
        from_config(params["data"]).sample(n, rng_for(params["seed"], name, "floor")), dtype=float
    )


def run(params: dict, name: str, test: np.ndarray) -> list[dict]:
    """Rows (``COLUMNS``): each metric of a fresh draw against the held-out
    ``test``, for each evaluated size ``n`` (the floor shrinks with ``n``)."""
    law, fresh = from_config(params["data"]), draw(params, name)
    return [
        dict(zip(COLUMNS, (metric, n, value)))
        for n in params["sizes"]
        for metric, value in noise_floor(law, fresh[:n], test).items()
    ]
