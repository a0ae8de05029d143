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
from .grids import KARRAS_T_MIN, times


def time_grid(steps: int, kind: str = "uniform", t_min: float = KARRAS_T_MIN) -> np.ndarray:
    """Decreasing times ``1 = t_0 > ... > t_steps = 0`` (see :func:`grids.times`)."""
    return np.array(times(steps, kind, t_min))


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


def run(denoiser, label, steps, x1, sigma, rng=None, t_min=KARRAS_T_MIN, trajectory=0):
    """One sampler configuration (a run label such as ``ddim_karras``) from the start batch ``x1``."""
    name, grid = parse_label(label)
    return sample(
        denoiser,
        x1,
        time_grid(steps, grid, t_min),
        sigma,
        stochastic=name == "ddpm",
        rng=rng,
        trajectory=trajectory,
    )


def gaussian_moments(mean, std, sigma, label, steps, t_min=KARRAS_T_MIN):
    """Exact mean and std of a sampler's output on data ``N(mean, std^2)``.

    Every step is affine in x, so the output is Gaussian and its moments
    follow a scalar recursion (MATH.md section 6), from the base ``N(0, sigma^2)``.
    """
    name, grid = parse_label(label)
    ts = time_grid(steps, grid, t_min)
    m, v = 0.0, sigma**2
    for t, s in zip(ts[:-1], ts[1:]):
        a = (std**2 + sigma**2 * s) / (std**2 + sigma**2 * t)
        if name == "ddpm":
            m, v = mean + a * (m - mean), a**2 * v + sigma**2 * (t - s)
        else:
            b = 1 + np.sqrt(t) / (np.sqrt(s) + np.sqrt(t)) * (a - 1)
            m, v = mean + b * (m - mean), b**2 * v
    return m, np.sqrt(v)
