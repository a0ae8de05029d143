"""Samplers: pure functions of a denoiser, a process, a start batch, a time
grid and a generator (docs/theory.md sections 2, 3, 8 and 9).

A sampler is a function ``sample_<name>(denoiser, process, x, ts, rng=None,
callback=None)`` that runs its own loop down the grid ``ts`` (as in
k-diffusion's ``sampling.py``), calling ``callback(i, x)`` after step ``i``;
``<name>`` is its entry in ``registry.SAMPLERS`` (which process it serves,
whether it is stochastic). A multistep or adaptive sampler writes its own
loop; the one-step ones share :func:`one_step_loop`. Denoiser evaluations
are counted, never declared (:func:`count_nfe`):

* ``ddpm`` (diffusion): the one-step mean ``mu = x + (dt/t)(D - x)`` plus
  fresh noise ``sigma sqrt(dt) z`` (tutorial Alg. 1);
* ``ddim`` (diffusion) and ``euler`` (flow): one Euler step of the
  probability-flow ODE ``dx/dtau = (x - D)/tau`` (``process.tau``), which is
  the tutorial's Alg. 2 for diffusion and the flow's Euler step;
* ``heun`` (both): Heun's second-order step on the same ODE, Euler on the
  last step to t = 0 (Karras et al. 2022, Alg. 1).

Grids may be non-uniform; every step above is exact in its own terms for
any ``t > s``.
"""

from __future__ import annotations

import numpy as np

from .data import gaussian
from .grids import KARRAS_T_MIN, times
from .process import exact_denoiser
from .registry import parse_label


def time_grid(steps: int, kind: str = "uniform", t_min: float = KARRAS_T_MIN) -> np.ndarray:
    """Decreasing times ``1 = t_0 > ... > t_steps = 0`` (see :func:`grids.times`)."""
    return np.array(times(steps, kind, t_min))


def ddpm_step(denoiser, process, x, t, s, rng):
    mu = x + ((t - s) / t) * (denoiser(x, t) - x)
    return mu + process.sigma * np.sqrt(t - s) * rng.standard_normal(x.shape)


def euler_step(denoiser, process, x, t, s, rng=None):
    """``x + (1 - tau_s/tau_t)(D - x)``: for diffusion, DDIM's
    ``x + lam (mu - x)`` with ``lam = sigma_t / (sigma_s + sigma_t)``."""
    return x + (1 - process.tau(s) / process.tau(t)) * (denoiser(x, t) - x)


def heun_step(denoiser, process, x, t, s, rng=None):
    tau_t, tau_s = process.tau(t), process.tau(s)
    slope = (x - denoiser(x, t)) / tau_t
    guess = x + (tau_s - tau_t) * slope
    if s == 0:  # the slope at tau = 0 is 0/0: the last step stays Euler
        return guess
    return x + (tau_s - tau_t) * 0.5 * (slope + (guess - denoiser(guess, s)) / tau_s)


def one_step_loop(step, denoiser, process, x, ts, rng=None, callback=None):
    """The loop of every one-step sampler: ``step`` from each grid time to the next."""
    for i, (t, s) in enumerate(zip(ts[:-1], ts[1:]), 1):
        x = step(denoiser, process, x, t, s, rng)
        if callback is not None:
            callback(i, x)
    return x


def sample_ddpm(denoiser, process, x, ts, rng=None, callback=None):
    if rng is None:
        raise ValueError("the stochastic sampler needs a random generator")
    return one_step_loop(ddpm_step, denoiser, process, x, ts, rng, callback)


def sample_ddim(denoiser, process, x, ts, rng=None, callback=None):
    return one_step_loop(euler_step, denoiser, process, x, ts, rng, callback)


sample_euler = sample_ddim  # the flow's Euler step is DDIM's step on its ODE


def sample_heun(denoiser, process, x, ts, rng=None, callback=None):
    return one_step_loop(heun_step, denoiser, process, x, ts, rng, callback)


def sampler(name: str):
    """The sampler function of a registry name: ``sample_<name>``."""
    return globals()[f"sample_{name}"]


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
    name, grid = parse_label(label)
    return sample(denoiser, process, x1, time_grid(steps, grid, t_min), sampler(name), rng, trajectory, keep)


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


def gaussian_law(mean, std, process, label, steps, t_min=KARRAS_T_MIN):
    """Exact mean and std of any sampler's output on 1-D data ``N(mean, std^2)``,
    from the source ``N(0, process.scale^2)``.

    With a Gaussian denoiser every step is affine in ``x`` and in the noise,
    so the output is ``alpha x1 + beta + sum_k c_k z_k``: one batched run of
    the sampler itself reads the coefficients off probe rows (``x1 = 0`` and
    ``1`` without noise, then a unit draw at step ``k`` in row ``k + 2``).
    """
    name, grid = parse_label(label)
    probe = np.zeros((steps + 2, 1))
    probe[1] = 1.0
    out = sample(
        exact_denoiser(process, gaussian(mean, std)),
        process,
        probe,
        time_grid(steps, grid, t_min),
        sampler(name),
        _ProbeNoise(),
    )[:, 0]
    beta, alpha = out[0], out[1] - out[0]
    var = (alpha * process.scale) ** 2 + np.sum((out[2:] - beta) ** 2)
    return float(beta), float(np.sqrt(var))


def gaussian_moments(mean, std, sigma, label, steps, t_min=KARRAS_T_MIN):
    """The DDPM and DDIM output law on data ``N(mean, std^2)`` by the closed-form
    scalar recursion of docs/theory.md section 6, from the base ``N(0, sigma^2)``:
    an independent check of :func:`gaussian_law` (and of the step code)."""
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
