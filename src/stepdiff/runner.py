"""Running one sampler configuration: its time grid, its start, what it
records along the way and what it costs (counted, never declared).

A run is named by a label such as ``heun_karras`` (``registry.parse_label``:
sampler ``heun`` on the ``karras`` grid); :func:`run` looks up the sampler
function (``sampling.sample_<name>``), builds the grid (``grids.times``) and
keeps the paths of the first samples at the grid indices
:func:`recorded_rows` picks (the figures' lines and the animations' cloud).
"""

from __future__ import annotations

import numpy as np

from .grids import KARRAS_T_MIN, times
from .registry import parse_label
from .sampling import sampler


def time_grid(label: str, steps: int, t_min: float = KARRAS_T_MIN) -> np.ndarray:
    """The decreasing times of a run label's grid with ``steps`` steps (``grids.times``)."""
    return np.array(times(steps, parse_label(label)[1], t_min))


class Counted:
    """A denoiser that counts its evaluations (NFE)."""

    def __init__(self, denoiser):
        self.denoiser, self.calls = denoiser, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.denoiser(x, t)


def count_nfe(process, label: str, steps: int, t_min: float = KARRAS_T_MIN) -> int:
    """Denoiser evaluations of one sampler configuration, counted on a
    one-row run with a zero denoiser (no sampler here adapts its steps to
    the data, so the count is the real runs' too: tests/test_sampling.py)."""
    counted = Counted(lambda x, t: np.zeros_like(x))
    run(counted, process, label, steps, np.ones((1, 1)), np.random.default_rng(0), t_min)
    return counted.calls


TRAJECTORY_ROWS = 41  # grid times a trajectory keeps at most (the animation's frames)
ROWS_RHO = 2  # kept times evenly spaced in sigma_t ** (1 / ROWS_RHO)


def recorded_rows(process, ts, n: int = TRAJECTORY_ROWS) -> np.ndarray:
    """The grid indices a trajectory keeps: every one of a grid of at most
    ``n`` times, else ``n`` of them, first (t = 1) and last (t = 0) included,
    as evenly spaced in ``sqrt(sigma_t)`` (``process.path``) as the grid
    allows: denser at low noise, where the data's shape appears (diffusion:
    evenly in t^(1/4); a flow: in sqrt(t)). Where the grid is coarser than
    that, neighbouring indices are taken: always ``n`` distinct ones."""
    ts = np.asarray(ts, dtype=float)
    last = len(ts) - 1
    if last + 1 <= n:
        return np.arange(last + 1)
    level = np.array([process.path(t)[1] for t in ts]) ** (1 / ROWS_RHO)
    done = (level[0] - level) / (level[0] - level[-1])  # 0 at t_0, 1 at the end, increasing
    rows, previous = [], -1
    for k, target in enumerate(np.linspace(0.0, 1.0, n)):
        i = int(np.clip(np.searchsorted(done, target), 1, last))
        i -= int(target - done[i - 1] <= done[i] - target)  # the nearer neighbour
        previous = min(max(i, previous + 1), last - (n - 1 - k))  # distinct, and room for the rest
        rows.append(previous)
    return np.array(rows)


class _Recorder:
    """The first ``k`` samples of the batch at the grid indices ``keep``."""

    def __init__(self, k, keep, n_times):
        keep = np.arange(n_times) if keep is None else np.asarray(keep, dtype=int)
        if keep.size and (np.any(np.diff(keep) <= 0) or keep[0] < 0 or keep[-1] >= n_times):
            raise ValueError(f"keep: increasing grid indices in [0, {n_times - 1}], got {keep.tolist()}")
        self.k, self.keep, self.kept = k, set(keep.tolist()), []

    def __call__(self, i, x):
        if self.k and i in self.keep:
            self.kept.append(x[: self.k].copy())

    def path(self, x):
        return np.stack(self.kept) if self.kept else np.empty((0,) + x[: self.k].shape)


def sample(denoiser, process, x, ts, method, rng=None, trajectory=0, keep=None):
    """Run the sampler function ``method`` from ``x`` (at ``ts[0]``) down the grid ``ts``.

    Returns the final batch, and with ``trajectory=k`` also the path of the
    first ``k`` samples at the grid indices ``keep`` (increasing; default
    every one), shape ``(len(keep), k, d)``.
    """
    x = np.array(x, dtype=np.float64)
    record = _Recorder(trajectory, keep, len(ts))
    record(0, x)
    x = method(denoiser, process, x, ts, rng, record if trajectory else None)
    return (x, record.path(x)) if trajectory else x


def run(denoiser, process, label, steps, x1, rng=None, t_min=KARRAS_T_MIN, trajectory=0, keep=None):
    """One sampler configuration (a run label such as ``heun_karras``) from the start batch ``x1``."""
    name = parse_label(label)[0]
    return sample(denoiser, process, x1, time_grid(label, steps, t_min), sampler(name), rng, trajectory, keep)
