"""A learned denoiser: a ReLU MLP that regresses x0 from (x_t, t) (docs/theory.md section 5).

The network is wrapped in the preconditioning of Karras et al. (2022):
``D(x, t) = c_skip x + c_out F(c_in x, c_noise)`` with ``c_noise = log(sigma_t /
alpha_t) / 4``. Inputs and targets of ``F`` then have unit scale at every
noise level, and ``D`` is exactly ``x`` as ``sigma_t -> 0``, the right
small-noise limit. The loss is weighted by ``1 / c_out^2`` so that every
noise level counts alike; the minimiser is still ``E[x0 | x_t]``.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import network
from .process import Diffusion


def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``, as ``model.device`` says: the device changes the
    weights, so it is a setting of the training job, never guessed."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("model.device is cuda, but torch sees no GPU here: use device: cpu")
    return torch.device(name)


def mlp(widths: list[int]) -> nn.Sequential:
    """``Linear`` layers of these widths with a ``ReLU`` between each two (none
    after the output layer): the ``net`` of every network here, whose state
    names ``network.shapes`` lists."""
    mods = []
    for a, b in zip(widths[:-1], widths[1:]):
        mods += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*mods[:-1])


class Denoiser(nn.Module):
    """``D(x, t) = c_skip x + c_out F(c_in x, c_noise)`` for ``x = alpha_t x0 +
    sigma_t eps``: the preconditioning of ``network.scalings`` around a ReLU
    MLP ``F`` (``network.Denoiser`` is the same forward pass in numpy). With
    ``classes`` > 0 it is conditional, ``D(x, t, labels)``: a learnable
    embedding of ``classes + 1`` labels (the last the null label: the
    unconditional denoiser) joins ``F``'s input (classifier-free guidance,
    docs/theory.md section 15)."""

    def __init__(
        self,
        dim=2,
        hidden=64,
        layers=3,
        n_freqs=8,
        process=None,
        sigma_data=0.5,
        octaves=0,
        target="x0",
        classes=0,
        embed=0,
    ):
        super().__init__()
        if target not in network.TARGETS:
            raise ValueError(f"model.target: unknown target {target!r}: expected one of {network.TARGETS}")
        self.arch = dict(
            dim=dim,
            hidden=hidden,
            layers=layers,
            n_freqs=n_freqs,
            octaves=octaves,
            target=target,
            classes=classes,
            embed=embed if classes else 0,
        )
        self.octaves = torch.from_numpy(network.octave_freqs(octaves))  # a constant, not a weight
        self.process = process if process is not None else Diffusion(1.0)
        self.sigma_data = float(sigma_data)
        self.register_buffer("freqs", 2.0 ** torch.arange(n_freqs, dtype=torch.float32))
        self.embed = nn.Embedding(classes + 1, embed) if classes else None
        self.net = mlp(network.widths(self.arch))

    def scalings(self, t):
        """``(c_skip, c_out, c_in, c_noise)`` at times ``t`` (n, 1)."""
        return network.scalings(self.process, self.sigma_data, t, torch, self.arch["target"])

    def forward(self, x, t, labels=None):
        """``x``: (n, dim); ``t``: (n, 1) times in (0, 1]; ``labels``: (n,)
        integers for a conditional network (``None``: the null label)."""
        c_skip, c_out, c_in, c_noise = self.scalings(t)
        h = network.features(x, c_in, c_noise, self.freqs, torch, self.octaves.to(x.device))
        if self.embed is not None:
            if labels is None:
                labels = torch.full((len(x),), self.arch["classes"], dtype=torch.long, device=x.device)
            h = torch.cat([h, self.embed(labels)], dim=1)
        return c_skip * x + c_out * self.net(h)


def train(
    x0,
    process,
    *,
    hidden,
    layers,
    n_freqs,
    octaves=0,
    target="x0",
    ema=0.0,
    loss="mse",
    huber_delta=0.01,
    beta2=0.999,
    steps,
    batch_size,
    lr,
    t_min,
    seed,
    labels=None,
    classes=0,
    embed=0,
    p_null=0.0,
    x1=None,
    paired=False,
    t_fixed=None,
    device="cpu",
    log=print,
    log_every=200,
):
    """Fit ``Denoiser`` to data ``x0`` (n, d) under ``process``; returns (model, losses per step).

    Each step pairs random data points (an unshuffled loader feeds one arc of
    the roll per batch, which blurs the result) with source draws ``x1`` at
    times whose noise level ``sigma_t / alpha_t`` is log-uniform between
    ``t_min`` and the process's ``t_max``, so the small noise levels that
    decide sharpness are trained as often as the large ones. The loss is
    weighted by ``1 / c_out^2`` so every level counts alike; the minimiser is
    still ``E[x0 | x_t]``. With ``labels`` (n,) in ``[0, classes)`` the
    network is conditional, and each label is replaced by the null label
    with probability ``p_null``, so one network learns ``D(x, t | c)`` and
    ``D(x, t)`` (Ho and Salimans 2022). With ``ema`` > 0 the returned weights
    are the exponential moving average of the trained ones with that decay
    per step (``torch.optim.swa_utils``): guidance multiplies a network's
    errors by up to ``2g - 1``, and averaging removes the part that is
    gradient noise. Raises ``FloatingPointError`` naming the step on a
    non-finite loss.

    The coupling of data and source (docs/theory.md sections 19 and 20):
    ``x1`` (m, d) are source points drawn instead of ``process.source`` (a
    source the process cannot draw, such as torchcfm's 8 Gaussians; the
    process then only scales the input); ``paired``: ``x1[i]`` is ``x0[i]``'s
    partner (a reflow, distillation or minibatch-OT set, whose coupling is
    given);
    ``t_fixed``: every training time is ``t_fixed`` (at a flow's ``t = 1``,
    ``D(z, 1)`` learns a one-step map ``z -> x0``).

    ``loss`` and ``beta2`` are :func:`optimise`'s (``loss``: ``mse`` or
    ``pseudo_huber`` with ``huber_delta``; ``beta2``: Adam's second-moment decay).
    """
    dev = pick_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # the initial weights
    data = np.asarray(x0, dtype=np.float64)
    n, dim = data.shape
    if x1 is not None:
        x1 = np.asarray(x1, dtype=np.float64)
        if x1.ndim != 2 or x1.shape[1] != dim or (paired and len(x1) != n):
            raise ValueError(
                f"x1 {x1.shape}: source points of the data's {dim} dimensions (as many, if paired)"
            )
    model = Denoiser(
        dim, hidden, layers, n_freqs, process, float(data.std()), octaves, target, classes, embed
    ).to(dev)
    times = noise_times(process, t_min)

    def batch():
        pick = rng.integers(n, size=batch_size)
        x = data[pick]
        extra = ()
        if classes:  # the null label with probability p_null
            c = np.where(rng.random(batch_size) < p_null, classes, labels[pick])
            extra = (torch.as_tensor(c, device=dev),)
        t = times(rng, batch_size) if t_fixed is None else np.full((batch_size, 1), float(t_fixed))
        if x1 is None:
            source = process.source(batch_size, dim, rng)
        else:
            source = x1[pick] if paired else x1[rng.integers(len(x1), size=batch_size)]
        xt = process.couple(x, source, t)
        x, xt, t = (torch.as_tensor(a, dtype=torch.float32, device=dev) for a in (x, xt, t))
        return (xt, t, *extra), x, t

    return optimise(
        model,
        batch,
        steps=steps,
        lr=lr,
        ema=ema,
        loss=loss,
        huber_delta=huber_delta,
        beta2=beta2,
        log=log,
        log_every=log_every,
    )


LOSSES = ("mse", "pseudo_huber")  # optimise's losses (model.loss)


def noise_times(process, t_min: float):
    """``draw(rng, n)``: ``n`` training times (n, 1) whose noise level
    ``sigma_t / alpha_t`` is log-uniform between ``t_min``'s and the
    process's ``t_max``'s."""
    level = [math.log(s / a) for a, s in (process.path(t_min), process.path(process.t_max()))]
    return lambda rng, n: process.t_of_level(np.exp(rng.uniform(level[0], level[1], (n, 1))))


def optimise(
    model,
    batch,
    *,
    steps,
    lr,
    ema=0.0,
    loss="mse",
    huber_delta=0.01,
    beta2=0.999,
    log=print,
    log_every=200,
):
    """The loop every network here trains with: Adam (second-moment decay
    ``beta2``) under a one-cycle learning rate, on the loss ``r^2 = |(D - x0)
    / c_out|^2`` of ``model(*inputs)`` for the ``(inputs, x0, t)`` that
    ``batch()`` draws each step. With ``loss = "pseudo_huber"`` it is
    ``sqrt(r^2 + delta^2) - delta`` (``delta = huber_delta``, in units of
    ``c_out``): quadratic below ``delta``, linear above, so a regression of
    a map (a one-step student, whose target is a function of its input)
    fits the bulk sharply and gives up on the few inputs it cannot resolve
    instead of blurring them all; a denoiser trained at random times must
    keep ``mse``, whose minimiser alone is ``E[x0 | x_t]``. With ``ema``
    > 0 the returned weights are the moving average of the steps' with that
    decay (``torch.optim.swa_utils``; it starts at the first step's).
    Returns (model on the CPU, losses per step); raises ``FloatingPointError``
    naming the step on a non-finite loss."""
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema)) if ema > 0 else None
    if loss not in LOSSES:
        raise ValueError(f"model.loss: unknown loss {loss!r}: expected one of {LOSSES}")
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, beta2))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses = np.empty(steps)
    for step in range(steps):
        inputs, x, t = batch()
        r2 = (((model(*inputs) - x) / model.scalings(t)[1]) ** 2).sum(1)
        value = r2.mean() if loss == "mse" else (torch.sqrt(r2 + huber_delta**2) - huber_delta).mean()
        if not torch.isfinite(value):
            raise FloatingPointError(f"training loss is {value.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
        if averaged is not None:
            averaged.update_parameters(model)
        losses[step] = value.item()
        if step % log_every == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss {losses[max(0, step - log_every + 1) : step + 1].mean():.4f}")
    return (model if averaged is None else averaged.module).cpu(), losses


def save(model: Denoiser, path, config: dict, fit: dict | None = None) -> None:
    """Weights, architecture, training config and cost (``fit``), as
    ``network.write`` writes them (a torch-free ``.npz``); written atomically."""
    state = {name: a.detach().cpu().numpy() for name, a in model.state_dict().items()}
    network.write(path, state, model.arch, model.process, model.sigma_data, config, fit)


def load(path, arch: dict | None = None, device="cpu") -> Denoiser:
    """Load a saved denoiser; ``arch`` (if given) must match the saved one.

    A file that cannot be read (truncated, not written by ``save``) or whose
    weights do not fit the architecture raises ``ValueError`` naming the file
    and the command that rebuilds it and everything made from it
    (``network.read``).
    """
    saved = network.read(path, arch)
    model = Denoiser(**saved.arch, process=saved.process, sigma_data=saved.sigma_data)
    model.load_state_dict({name: torch.tensor(a) for name, a in saved.state.items()})
    return model.to(pick_device(device)).eval()


def fit_each(tasks, out, log=print):
    """Train each ``(key, network.Training)`` of ``tasks`` and save it as
    ``{out}/{key}/denoiser.npz``: a study's networks, one after the other
    (``out`` exists even with none: a study whose networks are all shared)."""
    os.makedirs(out, exist_ok=True)
    for key, task in tasks:
        model, losses, cost = fit(task, log=log)
        os.makedirs(f"{out}/{key}", exist_ok=True)
        save(model, f"{out}/{key}/denoiser.npz", task.config, cost)
        log(f"{key}: final loss {cost['final_loss']:.4f}, {cost['cpu_s']:.1f} CPU-s")


_WARM: set = set()  # the devices torch has run a training step on in this process


def _warm_up(x0, device: str) -> None:
    """A few steps of a tiny network, once per process and device, so that
    torch's one-time set-up (about a second) is not charged to the first
    network that ``fit`` times. It draws nothing that a later ``train`` uses
    (``train`` seeds torch itself)."""
    if device not in _WARM:
        small = np.asarray(x0[:64], dtype=np.float64)
        train(
            small,
            Diffusion(1.0),
            hidden=4,
            layers=1,
            n_freqs=1,
            steps=11,
            batch_size=8,
            lr=1e-3,
            t_min=1e-4,
            seed=0,
            device=device,
            log=lambda *_: None,
        )
        _WARM.add(device)


def fit(task: network.Training, log=print):
    """Train one network (:func:`train` on the task's data, process, recipe
    and seed); returns (model, losses, cost): cost is the CPU-seconds of this
    process (all its threads) after a warm-up, and the final loss (the mean
    of the last 50 steps)."""
    device = task.recipe.get("device", "cpu")
    _warm_up(task.x0, device)
    start = time.process_time()
    model, losses = train(
        task.x0, task.process, seed=task.seed, labels=task.labels, x1=task.x1, log=log, **task.recipe
    )
    cost = {"cpu_s": time.process_time() - start, "final_loss": float(losses[-50:].mean())}
    return model, losses, cost
