"""Exact output laws of the samplers on Gaussian data, and the closed-form
flow maps they are checked against (docs/theory.md sections 6 and 9).

On 1-D Gaussian data every sampler step is affine in ``x`` and in the
noise, so a sampler's output law is Gaussian and :func:`affine_law` reads it
off one probe run of the sampler itself; :func:`gaussian_moments` is an
independent scalar recursion, and :func:`gaussian_flow_map` the exact ODE
solution, sharing no code with the steps.
"""

from __future__ import annotations

import numpy as np

from .data import gaussian
from .grids import KARRAS_T_MIN
from .process import exact_denoiser
from .registry import parse_label
from .runner import run, sample, time_grid
from .sampling import sampler


class _ProbeNoise:
    """A stand-in generator: at step ``k``, a unit draw for row ``k + 2`` only."""

    def __init__(self):
        self.k = 0

    def standard_normal(self, shape):
        z = np.zeros(shape)
        if self.k + 2 < shape[0]:
            z[self.k + 2] = 1.0
        self.k += 1
        return z


def affine_law(denoiser, process, label: str, steps: int, t_min=KARRAS_T_MIN, start=None):
    """Exact (mean, std) of a sampler's output when the 1-D ``denoiser`` is
    affine in ``x``, from ``start`` = (mean, std) (default the source ``N(0,
    process.scale^2)``).

    Every step is then affine in ``x`` and in the noise, so the output is
    ``alpha x1 + beta + sum_k c_k z_k``: one batched run of the sampler
    itself reads the coefficients off probe rows (``x1 = 0`` and ``1``
    without noise, then a unit draw at step ``k`` in row ``k + 2``).
    """
    name = parse_label(label)[0]
    probe = np.zeros((steps + 2, 1))
    probe[1] = 1.0
    ts = time_grid(label, steps, t_min)
    out = sample(denoiser, process, probe, ts, sampler(name), _ProbeNoise())[:, 0]
    beta, alpha = out[0], out[1] - out[0]
    m1, q1 = (0.0, process.scale) if start is None else start
    var = (alpha * q1) ** 2 + np.sum((out[2:] - beta) ** 2)
    return float(beta + alpha * m1), float(np.sqrt(var))


def gaussian_law(mean, std, process, label, steps, t_min=KARRAS_T_MIN):
    """Exact mean and std of any sampler's output on 1-D data ``N(mean, std^2)``,
    from the source ``N(0, process.scale^2)`` (:func:`affine_law` with the
    data's exact denoiser, which is affine)."""
    return affine_law(exact_denoiser(process, gaussian(mean, std)), process, label, steps, t_min)


# An oracle that shares no code with the steps nor with ``gaussian_law``: on
# data N(mean, std^2) the probability-flow ODE's flow map is closed-form
# (docs/theory.md section 9). Under the diffusion x(tau) - mean scales as
# sqrt(std^2 + tau^2); under the linear flow from N(0, q^2), x_t has mean
# (1 - t) mean and variance v(t) = (1 - t)^2 std^2 + t^2 q^2, and
# x(t) - (1 - t) mean scales as sqrt(v(t)).


def gaussian_flow_map(process, mean, std, x1, t):
    """The exact ODE solution at time ``t`` from ``x1`` at ``t = 1``, on data
    ``N(mean, std^2)`` (closed form; a flow needs its Gaussian source)."""
    if process.kind == "diffusion":
        tau, top = process.tau(t), process.tau(1.0)
        return mean + np.sqrt((std**2 + tau**2) / (std**2 + top**2)) * (x1 - mean)
    if not process.gaussian:
        raise ValueError("the flow map is closed-form from a Gaussian source only")
    q = process.scale
    return (1 - t) * mean + np.sqrt((1 - t) ** 2 * std**2 + t**2 * q**2) / q * x1


def gaussian_posterior_mean(process, mean, std, x, t):
    """``E[x0 | x_t = x]`` on data ``N(mean, std^2)``, written out (not
    ``process.exact_denoiser``): ``mean + std^2/(std^2 + tau^2) (x - mean)``
    (diffusion), ``mean + (1 - t) std^2 / v(t) (x - (1 - t) mean)`` (flow)."""
    if process.kind == "diffusion":
        return mean + std**2 / (std**2 + process.tau(t) ** 2) * (x - mean)
    v = (1 - t) ** 2 * std**2 + t**2 * process.scale**2
    return mean + (1 - t) * std**2 / v * (x - (1 - t) * mean)


def flow_map_error(process, label, steps, mean, std, x1, t_min=KARRAS_T_MIN):
    """Largest distance of a sampler's path (exact denoiser of ``N(mean,
    std^2)``, starts ``x1``) to the exact ODE solution from the same starts,
    at every time of its grid: its discretisation error alone. The last step,
    to t = 0, returns ``D(x, t_1)`` by design (the ODE's slope is 0/0 there),
    so the last row is held to the exact denoiser at the exact ``x(t_1)``: a
    grid that stops at ``t_min`` keeps that step's fixed error out."""
    x1 = np.asarray(x1, dtype=float)
    denoiser = exact_denoiser(process, gaussian(mean, std))
    _, path = run(denoiser, process, label, steps, x1, t_min=t_min, trajectory=len(x1))
    ts = time_grid(label, steps, t_min)
    exact = [gaussian_flow_map(process, mean, std, x1, t) for t in ts[:-1]]
    exact.append(gaussian_posterior_mean(process, mean, std, exact[-1], ts[-2]))
    return float(np.abs(path - np.stack(exact)).max())


def gaussian_moments(mean, std, sigma, label, steps, t_min=KARRAS_T_MIN):
    """The DDPM and DDIM output law on data ``N(mean, std^2)`` by the closed-form
    scalar recursion of docs/theory.md section 6, from the base ``N(0, sigma^2)``:
    an independent check of :func:`gaussian_law` (and of the step code)."""
    name = parse_label(label)[0]
    ts = time_grid(label, steps, t_min)
    m, v = 0.0, sigma**2
    for t, s in zip(ts[:-1], ts[1:]):
        a = (std**2 + sigma**2 * s) / (std**2 + sigma**2 * t)
        if name == "ddpm":
            m, v = mean + a * (m - mean), a**2 * v + sigma**2 * (t - s)
        else:
            b = 1 + np.sqrt(t) / (np.sqrt(s) + np.sqrt(t)) * (a - 1)
            m, v = mean + b * (m - mean), b**2 * v
    return m, np.sqrt(v)
