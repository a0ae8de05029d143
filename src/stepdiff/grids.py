"""Time grids, in pure Python: the config check (run by Snakemake before any
job) sees exactly where each grid ends, without importing numpy."""

from __future__ import annotations

GRIDS = ("uniform", "sigma", "karras", "logsnr")
KARRAS_T_MIN = 1e-4  # sigma_min = 0.01 sigma; also the default lower end of training


def times(steps: int, kind: str = "uniform", t_min: float = KARRAS_T_MIN, rho: float = 7.0) -> list[float]:
    """Decreasing times ``1 = t_0 > ... > t_steps = 0``.

    ``uniform``: the tutorial's grid. ``sigma``: uniform in ``sigma_t``
    (``t = u^2``). ``karras``: Karras et al. (2022), uniform in
    ``sigma_t^(1/rho)`` from ``t = 1`` down to ``t_min``, then one last step
    to 0. The last two spend more steps near t = 0, where DDIM's
    discretisation error concentrates; karras stops refining at ``t_min``
    because a learned denoiser is not trained below it. ``logsnr``: uniform
    in ``log tau`` from ``t = 1`` down to ``t_min``, then 0: the variable
    ``lambda = -log tau`` of the exponential integrators (DPM-Solver++), so
    each of their steps has the same ``h`` (for the diffusion ``log tau`` is
    minus half the log-SNR; ``tau`` is ``sigma sqrt(t)`` or ``t``, so for
    both processes the grid is uniform in ``log t``: no process needed here).
    It stops at ``t_min`` as karras does.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    u = [1.0 - k / steps for k in range(steps)]
    if kind == "uniform":
        return u + [0.0]
    if kind == "sigma":
        return [v * v for v in u] + [0.0]
    if kind in ("karras", "logsnr") and steps == 1:
        return [1.0, 0.0]
    if kind == "karras":
        lo = t_min ** (1 / (2 * rho))
        return [(1 + k / (steps - 1) * (lo - 1)) ** (2 * rho) for k in range(steps)] + [0.0]
    if kind == "logsnr":
        return [t_min ** (k / (steps - 1)) for k in range(steps)] + [0.0]
    raise ValueError(f"unknown grid {kind!r}: expected one of {GRIDS}")


def last_time(steps: int, kind: str = "uniform", t_min: float = KARRAS_T_MIN) -> float:
    """The smallest positive time of a grid: where the denoiser is last queried."""
    return times(steps, kind, t_min)[-2]
