"""The shared network's job: a ``networks`` entry's training task (no torch
here: ``learn.fit`` trains it). It draws its own data set, so it reaches the
data laws; an experiment's own network reads its data job's file."""

from __future__ import annotations

import numpy as np

from ..data import from_config
from ..network import Training
from ..process import Diffusion
from ..seeds import int_seed, rng_for


def shared_training(spec: dict, name: str) -> Training:
    """The task of a shared network (a ``networks`` entry): ``data.n``
    points of its law, levels log-uniform in ``levels`` (a diffusion whose
    ``sigma`` is the largest level, down to ``t_min = (low / high)^2``), its
    recipe and a torch seed from its seed and name."""
    low, high = spec["levels"]
    x0 = from_config(spec["data"]).sample(spec["data"]["n"], rng_for(spec["seed"], name, "train"))
    recipe = {**spec["model"], "t_min": (low / high) ** 2}
    seed = int_seed(spec["seed"], name, "train")
    return Training(np.asarray(x0, dtype=float), Diffusion(float(high)), recipe, seed, None, spec)
