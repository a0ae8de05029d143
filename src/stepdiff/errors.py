"""Where the network is wrong: its error against the exact denoiser over
noise levels and over the plane (docs/theory.md section 16).

For a learned experiment whose data has an exact denoiser, the network's
error at noise level ``L = sigma_t / alpha_t`` is
``E ||D_net(x_t, t) - D_exact(x_t, t)||^2`` over ``x_t ~ p_t`` (held-out
data pushed through the process), beside the task's own scale,
``E ||D_exact(x_t, t) - x0||^2`` (what even the exact denoiser cannot know);
maps of ``||D_net - D_exact||`` over a grid of the plane at a few levels show
where it is wrong.
"""

from __future__ import annotations

import numpy as np

ERROR_COLUMNS = ("level", "t", "n", "network_mse", "network_mse_se", "exact_mse", "exact_mse_se")
LEVELS = 24  # noise levels of the error curve, log-spaced over the trained range
MAP_LEVELS = 4  # levels of the maps
MAP_SIZE = 96  # grid points per side of a map


def levels(process, t_min: float, count: int) -> np.ndarray:
    """``count`` noise levels ``sigma_t / alpha_t``, log-spaced from the
    trained range's lower end (``t_min``) to its upper end (``process.t_max``)."""
    lo, hi = (process.path(t)[1] / process.path(t)[0] for t in (t_min, process.t_max()))
    return np.geomspace(lo, hi, count)


def error_curve(network, exact, process, x0, rng, t_min: float, count: int = LEVELS) -> list[dict]:
    """One row per noise level: the mean squared error of the network against
    the exact denoiser, and of the exact denoiser against the data, each with
    its standard error (the spread over the ``len(x0)`` points)."""
    return error_curves({"": network}, exact, process, x0, rng, t_min, count)[""]


def error_curves(networks: dict, exact, process, x0, rng, t_min: float, count: int = LEVELS) -> dict:
    """:func:`error_curve` of several networks on the same ``x_t`` (paired
    differences), the exact denoiser evaluated once per level for all of them:
    ``{name: rows}``."""
    rows: dict = {name: [] for name in networks}

    def mse(a, b):
        v = ((a - b) ** 2).sum(1)
        return v.mean(), float(v.std(ddof=1) / np.sqrt(len(v)))

    for level in levels(process, t_min, count):
        t = float(process.t_of_level(level))
        xt = process.couple(x0, process.source(len(x0), x0.shape[1], rng), t)
        best = exact(xt, t)
        task = mse(best, x0)
        for name, network in networks.items():
            rows[name].append(
                dict(zip(ERROR_COLUMNS, (level, t, len(x0), *mse(network(xt, t), best), *task)))
            )
    return rows


def error_maps(
    network, exact, process, x0, t_min: float, count: int = MAP_LEVELS, size: int = MAP_SIZE
) -> dict:
    """``||D_net - D_exact||`` and ``||D_exact - x||`` on a ``size`` x ``size``
    grid around the data, at ``count`` levels spread over the trained range
    (arrays ``network-{i}``, ``exact-{i}``; ``levels``, ``times``, ``extent``);
    no maps (empty ``levels``) for data that is not 2-D."""
    if x0.shape[1] != 2:  # maps of the plane: 1-D data has its error curve alone
        return {"levels": np.array([]), "times": np.array([]), "extent": np.array([])}
    lo, hi = x0.min(0) - 0.25 * np.ptp(x0, 0), x0.max(0) + 0.25 * np.ptp(x0, 0)
    xs, ys = np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    chosen = levels(process, t_min, count + 2)[1:-1]  # inside the range: not its ends
    out = {"levels": chosen, "extent": np.array([lo[0], hi[0], lo[1], hi[1]])}
    times = []
    for i, level in enumerate(chosen):
        t = float(process.t_of_level(level))
        times.append(t)
        alpha = process.path(t)[0]
        xt = alpha * grid  # the map is over x_t / alpha_t, the data's own coordinates
        best = exact(xt, t)
        out[f"network-{i}"] = np.linalg.norm(network(xt, t) - best, axis=1).reshape(size, size)
        out[f"exact-{i}"] = np.linalg.norm(best - grid, axis=1).reshape(size, size)
    out["times"] = np.array(times)
    return out
