"""Time grids, the DDPM and DDIM samplers, and their exact Gaussian moments.

A sampler is a pure function of a denoiser ``D(x, t)``, a start batch, a
time grid and a generator (MATH.md sections 2-3). Both samplers are one
loop: the one-step mean ``mu = x + (dt/t)(D - x)`` followed either by fresh
noise (DDPM) or by a deterministic partial step (DDIM). Grids may be
non-uniform; ``dt`` is then the local step ``t - s``, for which the one-step
mean is still exact.
"""

from __future__ import annotations

import numpy as np

from .config import parse_label

KARRAS_T_MIN = 1e-4  # sigma_min = 0.01 sigma; also the default lower end of training


def time_grid(steps: int, kind: str = "uniform", rho: float = 7.0) -> np.ndarray:
    """Decreasing times ``1 = t_0 > ... > t_steps = 0``.

    ``uniform``: the tutorial's grid. ``sigma``: uniform in ``sigma_t``
    (``t = u^2``). ``karras``: Karras et al. (2022), uniform in
    ``sigma_t^(1/rho)`` from ``sigma`` down to ``sigma_min = 0.01 sigma``,
    then one last step to 0. The last two spend more steps near t = 0, where
    DDIM's discretisation error concentrates; karras stops refining at
    ``sigma_min`` because a learned denoiser is not trained below it.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    u = np.linspace(1.0, 0.0, steps + 1)
    if kind == "uniform":
        return u
    if kind == "sigma":
        return u**2
    if kind == "karras":
        v = np.linspace(0.0, 1.0, steps)
        t = (1 + v * (KARRAS_T_MIN ** (1 / (2 * rho)) - 1)) ** (2 * rho)
        return np.append(t if steps > 1 else [1.0], 0.0)
    raise ValueError(f"unknown grid {kind!r}")


def sample(denoiser, x, ts, sigma, *, stochastic, rng=None, trajectory=0):
    """Run the reverse process from ``x`` (at ``ts[0]``) down the grid ``ts``.

    ``stochastic=True`` is DDPM (tutorial Alg. 1), ``False`` is DDIM (Alg. 2).
    Returns the final batch, and with ``trajectory=k`` also the path of the
    first ``k`` samples, shape ``(len(ts), k, d)``.
    """
    x = np.array(x, dtype=np.float64)
    if stochastic and rng is None:
        raise ValueError("the stochastic sampler needs a random generator")
    path = [x[:trajectory].copy()] if trajectory else None
    for t, s in zip(ts[:-1], ts[1:]):
        dt = t - s
        mu = x + (dt / t) * (denoiser(x, t) - x)
        if stochastic:
            x = mu + sigma * np.sqrt(dt) * rng.standard_normal(x.shape)
        else:
            lam = np.sqrt(t) / (np.sqrt(s) + np.sqrt(t))  # sigma_t / (sigma_s + sigma_t)
            x = x + lam * (mu - x)
        if trajectory:
            path.append(x[:trajectory].copy())
    return (x, np.stack(path)) if trajectory else x


def ddpm(denoiser, x, ts, sigma, rng, trajectory=0):
    return sample(denoiser, x, ts, sigma, stochastic=True, rng=rng, trajectory=trajectory)


def ddim(denoiser, x, ts, sigma, rng=None, trajectory=0):
    return sample(denoiser, x, ts, sigma, stochastic=False, rng=rng, trajectory=trajectory)


def run(denoiser, label, steps, n, dim, sigma, rng, trajectory=0):
    """One sampler configuration: draw ``N(0, sigma^2 I)`` and sample."""
    name, grid = parse_label(label)
    x1 = sigma * rng.standard_normal((n, dim))
    return sample(
        denoiser,
        x1,
        time_grid(steps, grid),
        sigma,
        stochastic=name == "ddpm",
        rng=rng,
        trajectory=trajectory,
    )


def gaussian_moments(mean, std, sigma, label, steps):
    """Exact mean and std of a sampler's output on data ``N(mean, std^2)``.

    Every step is affine in x, so the output is Gaussian and its moments
    follow a scalar recursion (MATH.md section 6), from the base ``N(0, sigma^2)``.
    """
    name, grid = parse_label(label)
    ts = time_grid(steps, grid)
    m, v = 0.0, sigma**2
    for t, s in zip(ts[:-1], ts[1:]):
        a = (std**2 + sigma**2 * s) / (std**2 + sigma**2 * t)
        if name == "ddpm":
            m, v = mean + a * (m - mean), a**2 * v + sigma**2 * (t - s)
        else:
            b = 1 + np.sqrt(t) / (np.sqrt(s) + np.sqrt(t)) * (a - 1)
            m, v = mean + b * (m - mean), b**2 * v
    return m, np.sqrt(v)
