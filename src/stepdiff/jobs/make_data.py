"""The data job: an experiment's (or a study's) training set and held-out set.

It reaches the data laws and the seeds, never the samplers, so editing a
sampler leaves every data set (and every network trained on one) as it is.
"""

from __future__ import annotations

import numpy as np

from ..data import from_config
from ..seeds import rng_for

KEYS = {"make_data": ("data", "n_samples", "seed")}


def run(params: dict, name: str) -> dict[str, np.ndarray]:
    """``train`` (``data.n`` points, else ``n_samples``) and ``test``
    (``n_samples``), each from its own generator."""
    law = from_config(params["data"])
    sizes = {"train": params["data"].get("n", params["n_samples"]), "test": params["n_samples"]}
    return {
        split: np.asarray(law.sample(n, rng_for(params["seed"], name, split)), dtype=float)
        for split, n in sizes.items()
    }
