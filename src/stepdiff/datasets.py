"""An experiment's data sets: its training set, held-out set and noise-floor draw.

Data generation reaches the data laws and the seeds, never the samplers, so
editing a sampler leaves every data set (and every network trained on one) as
it is.
"""

from __future__ import annotations

import numpy as np

from . import data
from .seeds import rng_for


def distribution(exp: dict):
    return data.from_config(exp["data"])


def make_data(exp: dict, name: str) -> dict[str, np.ndarray]:
    """Training set and held-out test set, each from its own generator."""
    dist = distribution(exp)
    sizes = {"train": exp["data"].get("n", exp["n_samples"]), "test": exp["n_samples"]}
    return {
        split: np.asarray(dist.sample(n, rng_for(exp["seed"], name, split)), dtype=float)
        for split, n in sizes.items()
    }


def floor_draw(exp: dict, name: str) -> np.ndarray:
    """A second held-out draw for noise floors, as large as the largest sample
    set evaluated (its first ``n`` rows serve size ``n``)."""
    n = max(exp["sizes"])
    return np.asarray(distribution(exp).sample(n, rng_for(exp["seed"], name, "floor")), dtype=float)
