"""A network's jobs: the training task of a section with a ``model``, and
the sampling jobs' view of a saved network (a shared network's task is
``train_network``'s). No torch here (``learn.fit`` trains
the task): a sampling job that reads a network file starts fast."""

from __future__ import annotations

import numpy as np

from ..network import ARCH_KEYS, OPTIONAL, Denoiser, Training, load
from ..process import from_config as process_of
from ..seeds import int_seed

KEYS = {"train": ("model", "seed", "sigma", "source")}


def training(params: dict, name: str, x0, labels=None) -> Training:
    """The task of a section with a ``model`` (an experiment's, or a study's
    network in the same shape): its process, its recipe, and a torch seed
    derived from the config seed and ``name``, so two learned experiments
    with one seed do not share their streams."""
    seed = int_seed(params["seed"], name, "train")
    return Training(np.asarray(x0), process_of(params), dict(params["model"]), seed, labels, params)


def denoiser_for(params: dict, path) -> Denoiser:
    """A saved network, checked against the section's architecture, serving
    the section's process (a shared network was trained under another:
    ``Denoiser.serving``)."""
    net = load(path, {k: params["model"].get(k, OPTIONAL.get(k)) for k in ARCH_KEYS})
    return net.serving(process_of(params))
