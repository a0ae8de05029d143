"""A learned denoiser: a ReLU MLP that regresses x0 from (x_t, t) (MATH.md section 5).

The network is wrapped in the preconditioning of Karras et al. (2022):
``D(x, t) = c_skip x + c_out F(c_in x, log sigma_t)``. Inputs and targets of
``F`` then have unit scale at every noise level, and ``D`` is exactly ``x``
as ``sigma_t -> 0``, the right small-noise limit. The loss is weighted by
``1 / c_out^2`` so that every noise level counts alike; the minimiser is
still ``E[x0 | x_t]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .config import int_seed
from .io import atomic
from .process import Diffusion, from_config, from_description


def pick_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, or ``auto`` (a GPU when torch sees one)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


ARCH_KEYS = ("hidden", "layers", "n_freqs")  # model-config keys that fix the weights' shapes


class Denoiser(nn.Module):
    """``D(x, t) = c_skip x + c_out F(c_in x, c_noise)`` for ``x = alpha_t x0 +
    sigma_t eps`` (``process.path``): Karras et al.'s preconditioning of
    ``y = x / alpha_t`` at noise level ``sigma_t / alpha_t``, written in ``x``
    so that it stays finite at a flow's ``t = 1`` (``alpha_t = 0``), where
    ``D`` is ``c_out F``: the network's estimate of ``E[x0]``."""

    def __init__(self, dim=2, hidden=64, layers=3, n_freqs=8, process=None, sigma_data=0.5):
        super().__init__()
        self.arch = dict(dim=dim, hidden=hidden, layers=layers, n_freqs=n_freqs)
        self.process = process if process is not None else Diffusion(1.0)
        self.sigma_data = float(sigma_data)
        self.register_buffer("freqs", 2.0 ** torch.arange(n_freqs, dtype=torch.float32))
        widths = [dim + 1 + 2 * n_freqs] + [hidden] * layers
        mods = []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*mods, nn.Linear(widths[-1], dim))

    def scalings(self, t):
        """``(c_skip, c_out, c_in, c_noise)`` at times ``t`` (n, 1). The noise
        embedding is held at the process's largest trained level."""
        alpha, sigma_t = self.process.path(t)
        sd2 = self.sigma_data**2
        denom = sigma_t**2 + alpha**2 * sd2
        c_skip = sd2 * alpha / denom
        c_out = sigma_t * self.sigma_data / torch.sqrt(denom)
        c_in = 1 / torch.sqrt(denom)
        held_alpha, held_sigma = self.process.path(t.clamp(max=self.process.t_max()))
        c_noise = torch.log(held_sigma / held_alpha) / 4
        return c_skip, c_out, c_in, c_noise

    def forward(self, x, t):
        """``x``: (n, dim); ``t``: (n, 1) times in (0, 1]."""
        c_skip, c_out, c_in, c_noise = self.scalings(t)
        feats = torch.cat(
            [c_in * x, c_noise, torch.sin(c_noise * self.freqs), torch.cos(c_noise * self.freqs)], 1
        )
        return c_skip * x + c_out * self.net(feats)


def train(
    x0,
    process,
    *,
    hidden,
    layers,
    n_freqs,
    steps,
    batch_size,
    lr,
    t_min,
    seed,
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
    still ``E[x0 | x_t]``. Raises ``FloatingPointError`` naming the step on a
    non-finite loss.
    """
    dev = pick_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # the initial weights
    data = np.asarray(x0, dtype=np.float64)
    n, dim = data.shape
    model = Denoiser(dim, hidden, layers, n_freqs, process, float(data.std())).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    level = [math.log(s / a) for a, s in (process.path(t_min), process.path(process.t_max()))]
    losses = np.empty(steps)
    for step in range(steps):
        x = data[rng.integers(n, size=batch_size)]
        t = process.t_of_level(np.exp(rng.uniform(level[0], level[1], (batch_size, 1))))
        xt = process.couple(x, process.source(batch_size, dim, rng), t)
        x, xt, t = (torch.as_tensor(a, dtype=torch.float32, device=dev) for a in (x, xt, t))
        pred = model(xt, t)
        c_out = model.scalings(t)[1]
        loss = (((pred - x) / c_out) ** 2).sum(1).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[step] = loss.item()
        if step % log_every == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss {losses[max(0, step - log_every + 1) : step + 1].mean():.4f}")
    return model.cpu(), losses


def save(model: Denoiser, path, config: dict) -> None:
    """Weights, architecture and training config; written atomically."""
    with atomic(path) as tmp:
        torch.save(
            {
                "arch": model.arch,
                "process": model.process.describe(),
                "sigma_data": model.sigma_data,
                "state_dict": model.state_dict(),
                "config": config,
            },
            tmp,
        )


def load(path, arch: dict | None = None, device="cpu") -> Denoiser:
    """Load a saved denoiser; ``arch`` (if given) must match the saved one.

    A file that cannot be read (truncated, not written by ``save``) or whose
    weights do not fit the architecture raises ``ValueError`` naming the file
    and the command that rebuilds it and everything made from it.
    """

    def damaged(problem, error=None):
        if error is not None:
            text = " ".join(str(error).split()).split(". ")[0]  # its first sentence
            problem += f" ({type(error).__name__}: {text})" if text else f" ({type(error).__name__})"
        return ValueError(
            f"{path}: {problem}. Rebuild the model and everything made from it with: "
            f"snakemake --forcerun {path} (plus this run's other options, e.g. --configfile)"
        )

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise damaged("not a readable model file", e) from e
    keys = ("arch", "process", "sigma_data", "state_dict")
    if not isinstance(ckpt, dict) or not all(k in ckpt for k in keys):
        raise damaged(f"not a model file written by stepdiff (expected the keys {', '.join(keys)})")
    if arch is not None and any(ckpt["arch"].get(k) != v for k, v in arch.items()):
        raise damaged(f"saved architecture {ckpt['arch']} does not match requested {arch}")
    try:
        process = from_description(ckpt["process"])
        model = Denoiser(**ckpt["arch"], process=process, sigma_data=ckpt["sigma_data"])
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, RuntimeError) as e:
        raise damaged(f"weights do not fit the saved architecture {ckpt['arch']}", e) from e
    return model.to(pick_device(device)).eval()


class NumpyDenoiser:
    """Adapts a torch ``Denoiser`` to the samplers' numpy ``D(x, t)``."""

    def __init__(self, model: Denoiser):
        self.model = model
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def __call__(self, x, t):
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        tt = torch.full((len(x), 1), float(t), device=self.device)
        return self.model(xt, tt).double().cpu().numpy()


def fit(exp: dict, name: str, x0, log=print):
    """The train job: fit the experiment's model section to ``x0``. Torch's
    streams derive from the config seed and the experiment's name, so two
    learned experiments with one seed do not share them."""
    hyper = {k: v for k, v in exp["model"].items() if k != "device"}
    seed = int_seed(exp["seed"], name, "train")
    return train(x0, from_config(exp), seed=seed, device=exp["model"]["device"], log=log, **hyper)


def denoiser_for(exp: dict, path) -> NumpyDenoiser:
    """The sampling jobs' view of a saved model, checked against the config's architecture."""
    model = exp["model"]
    return NumpyDenoiser(load(path, {k: model[k] for k in ARCH_KEYS}, device=model["device"]))
