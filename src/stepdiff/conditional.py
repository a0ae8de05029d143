"""A conditional denoiser for classifier-free guidance (docs/theory.md section 15), in torch.

``D(x, t, c) = c_skip x + c_out F([features(x, t), embed(c)])``: the project's
preconditioning and input features (``network.scalings``, ``network.features``)
and a learnable embedding of ``classes + 1`` labels, the last the null label.
Training replaces a point's label by the null label with probability
``p_null``, so one network learns both ``D(x, t | c)`` and ``D(x, t)``
(Ho and Salimans 2022). Its forward pass without torch, for the sampling
jobs, is ``guidance.ConditionalNet``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from . import network
from .learn import mlp, noise_times, optimise, save
from .seeds import int_seed


class ConditionalDenoiser(nn.Module):
    """``D(x, t, labels)``; label ``classes`` is the null label (unconditional)."""

    def __init__(self, dim, hidden, layers, n_freqs, octaves, classes, embed, process, sigma_data):
        super().__init__()
        self.arch = dict(
            zip(network.CONDITIONAL_ARCH, (dim, hidden, layers, n_freqs, octaves, classes, embed))
        )
        self.octaves = torch.from_numpy(network.octave_freqs(octaves))  # a constant, not a weight
        self.process, self.sigma_data = process, float(sigma_data)
        self.register_buffer("freqs", 2.0 ** torch.arange(n_freqs, dtype=torch.float32))
        self.embed = nn.Embedding(classes + 1, embed)
        self.net = mlp(network.conditional_widths(self.arch))

    def scalings(self, t):
        return network.scalings(self.process, self.sigma_data, t, torch)

    def forward(self, x, t, labels):
        """``x``: (n, dim); ``t``: (n, 1) times in (0, 1]; ``labels``: (n,) integers."""
        c_skip, c_out, c_in, c_noise = self.scalings(t)
        h = torch.cat(
            [network.features(x, c_in, c_noise, self.freqs, torch, self.octaves), self.embed(labels)], dim=1
        )
        return c_skip * x + c_out * self.net(h)


def train(
    x0,
    labels,
    classes,
    process,
    *,
    hidden,
    layers,
    n_freqs,
    embed,
    steps,
    octaves=0,
    batch_size,
    lr,
    t_min,
    p_null,
    seed,
    ema=0.0,
    log=print,
    log_every=500,
):
    """Fit :class:`ConditionalDenoiser` to labelled data ``(x0, labels)`` as
    ``learn.train`` fits the unconditional one (levels log-uniform between
    ``t_min`` and the process's ``t_max``, loss weighted by ``1 / c_out^2``),
    with each label replaced by the null label with probability ``p_null``.
    The returned weights are the exponential average of the steps' (decay
    ``ema``; 0 keeps the last): guidance multiplies the network's errors by up
    to ``2g - 1``, and averaging removes the part that is gradient noise.
    Returns (model, losses per step)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    data = np.asarray(x0, dtype=np.float64)
    n, dim = data.shape
    model = ConditionalDenoiser(
        dim, hidden, layers, n_freqs, octaves, classes, embed, process, float(data.std())
    )
    times = noise_times(process, t_min)

    def batch():
        pick = rng.integers(n, size=batch_size)
        x, c = data[pick], np.where(rng.random(batch_size) < p_null, classes, labels[pick])
        t = times(rng, batch_size)
        xt = process.couple(x, process.source(batch_size, dim, rng), t)
        x, xt, t = (torch.as_tensor(a, dtype=torch.float32) for a in (x, xt, t))
        return (xt, t, torch.as_tensor(c)), x, t

    return optimise(model, batch, steps=steps, lr=lr, ema=ema, log=log, log_every=log_every)


def fit_each(runs, name: str, out, log=print):
    """A guidance study's networks: for each ``(key, spec, (x0, labels))``,
    train the spec's ``model`` section with the study's torch seed and save
    ``{out}/{key}/denoiser.npz`` (the study's counterpart of ``learn.fit_each``),
    trained down to the study's ``t_min``, where its grids stop."""
    from .process import Diffusion

    for key, spec, (x0, labels) in runs:
        hyper = {k: v for k, v in spec["model"].items() if k != "n_train"}
        model, losses = train(
            x0,
            labels,
            spec["ring"]["classes"],
            Diffusion(float(spec["sigma"])),
            t_min=spec["t_min"],
            seed=int_seed(spec["seed"], name, "train"),
            log=log,
            **hyper,
        )
        os.makedirs(f"{out}/{key}", exist_ok=True)
        save(
            model, f"{out}/{key}/denoiser.npz", spec
        )  # network.write's layout, read by guidance.ConditionalNet
        log(f"{key}: final loss {losses[-50:].mean():.4f}")
