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
  last step to t = 0 (Karras et al. 2022, Alg. 1);
* ``dpmpp_2m``, ``dpmpp_3m``, ``unipc`` (both): exponential integrators in
  ``lambda = -log tau`` (docs/theory.md section 13), multistep, one
  evaluation per step: DPM-Solver++(2M) and (3M), both second order, and
  UniPC, third order; the first step (no history) starts as DDIM's and the
  last, to t = 0, is DDIM's.

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


def sample_dpmpp_2m(denoiser, process, x, ts, rng=None, callback=None):
    """DPM-Solver++(2M) in ``tau`` (Lu et al. 2022; k-diffusion's
    ``sample_dpmpp_2m`` with sigma read as ``tau``; docs/theory.md section 13).

    Over a step the linear part of ``dx/dtau = (x - D)/tau`` integrates
    exactly: ``x_s = (tau_s/tau_t) x_t + tau_s int e^lambda D dlambda`` with
    ``lambda = -log tau``. Holding ``D`` fixed is DDIM; 2M extrapolates it
    linearly in ``lambda`` from the previous step's value,
    ``D' = (1 + 1/(2r)) D_i - (1/(2r)) D_{i-1}``, ``r = h_{i-1}/h_i``,
    ``h_i = log(tau_i/tau_{i+1})``, and takes the DDIM step with ``D'``: second
    order for one evaluation per step. The first step (no history) and the
    last, to ``tau = 0`` (``lambda`` infinite: it returns ``D``), are DDIM's.
    """
    previous = None  # (D, h) of the step before
    for i, (t, s) in enumerate(zip(ts[:-1], ts[1:]), 1):
        d = denoiser(x, t)
        ratio = process.tau(s) / process.tau(t)  # e^-h; 0 on the last step
        h = -np.log(ratio) if ratio > 0 else np.inf
        target = d
        if previous is not None and ratio > 0:
            target = d + (d - previous[0]) * h / (2 * previous[1])  # 1/(2r) = h_i / (2 h_{i-1})
        x = ratio * x + (1 - ratio) * target
        previous = (d, h)
        if callback is not None:
            callback(i, x)
    return x


def exponential_step(x, h, values, nodes):
    """A step of length ``h`` in ``lambda = -log tau`` of the exact solution
    ``x_s = e^-h x_t + int_0^h e^(v - h) D dv`` (docs/theory.md section 13),
    with ``D`` the polynomial through ``values`` at ``nodes`` (at most three;
    in ``lambda``, measured from the step's start), integrated exactly:

        x_s = e^-h x + c1 p(0) + c2 p'(0) + c3 p''(0),
        c1 = 1 - e^-h,  c2 = h - c1,  c3 = h^2/2 - c2,

    since ``c_k = int_0^h e^(v - h) v^(k-1)/(k-1)! dv`` (``expm1`` keeps
    ``c1`` accurate at small ``h``). One value (at node 0) is DDIM's step."""
    c1 = -np.expm1(-h)
    c2 = h - c1
    value, slope, curve = values[0], 0.0, 0.0
    if len(values) > 1:
        (y0, y1, *y2), (v0, v1, *v2) = values, nodes
        f01 = (y0 - y1) / (v0 - v1)
        f012 = ((f01 - (y1 - y2[0]) / (v1 - v2[0])) / (v0 - v2[0])) if y2 else 0.0
        # p(v) = y0 + f01 (v - v0) + f012 (v - v0)(v - v1), at v = 0:
        value, slope, curve = y0 - f01 * v0 + f012 * v0 * v1, f01 - f012 * (v0 + v1), 2 * f012
    return np.exp(-h) * x + c1 * value + c2 * slope + (h * h / 2 - c2) * curve


def sample_dpmpp_3m(denoiser, process, x, ts, rng=None, callback=None):
    """DPM-Solver++(3M) in ``tau`` (Lu et al. 2022, third-order multistep):
    :func:`exponential_step` with ``D`` extrapolated through the last three
    evaluations (two on the second step, one on the first: DDIM). One
    evaluation per step; the last step, to ``tau = 0``, returns ``D``.

    Its order is 2, not 3 (measured: ``studies.orders``): the first step has
    no history, and a multistep method of order ``p`` needs starting values
    good to ``O(h^p)``; DDIM's local error ``O(h^2)`` there stays in the
    result. :func:`sample_unipc` is this project's third-order sampler. (The
    ``phi_3`` term of k-diffusion's ``sample_dpmpp_3m_sde`` and of
    DPM-Solver's multistep code weighs ``D''`` by ``c3/2``, half the exact
    integral's ``c3``: a local error ``O(h^3)``, second order even from exact
    starts; tests/test_orders.py holds this step to the exact integral.)"""
    values, lams = [], []  # newest first: the evaluations and their lambdas
    for i, (t, s) in enumerate(zip(ts[:-1], ts[1:]), 1):
        lam = -np.log(process.tau(t))
        values, lams = [denoiser(x, t), *values[:2]], [lam, *lams[:2]]
        tau_s = process.tau(s)
        if tau_s == 0:
            x = values[0]
        else:
            x = exponential_step(x, np.log(process.tau(t) / tau_s), values, [v - lam for v in lams])
        if callback is not None:
            callback(i, x)
    return x


def sample_unipc(denoiser, process, x, ts, rng=None, callback=None):
    """UniPC (Zhao et al. 2023) in ``tau``, third order for one evaluation per
    step: a predictor and a corrector of :func:`exponential_step`.

    The predictor takes the step with ``D`` on the line through the last two
    evaluations (UniP-2; DDIM on the first step). The evaluation at the
    predicted point, which the next step needs anyway, then corrects it: the
    step is retaken from the same start with ``D`` on the quadratic through
    the new value and the last two (UniC; the line through two on the first
    step). The corrected state goes on (and to ``callback``); ``D`` at the
    predicted point stays in the history, so no evaluation is added. The last
    step, to ``tau = 0``, returns ``D`` at the predicted point.

    Why this and not :func:`sample_dpmpp_3m` as the third-order sampler: 3M's
    first step is DDIM, whose local error ``O(h^2)`` makes 3M second order
    overall; the corrector lifts that first step to a local ``O(h^3)``, so
    UniPC is third order from the start (measured: ``studies.orders``)."""
    values, lams = [], []  # newest first: the evaluations and their lambdas
    start = None  # (x, h): where the step just taken began, and its length
    for k, (t, s) in enumerate(zip(ts[:-1], ts[1:])):
        lam = -np.log(process.tau(t))
        d = denoiser(x, t)
        if start is not None:  # correct the step that reached t
            x = exponential_step(start[0], start[1], [d, *values], [start[1], *(v - lams[0] for v in lams)])
            if callback is not None:
                callback(k, x)
        values, lams = [d, *values[:1]], [lam, *lams[:1]]
        tau_s = process.tau(s)
        if tau_s == 0:
            x = d
        else:
            start = (x, np.log(process.tau(t) / tau_s))
            x = exponential_step(x, start[1], values, [v - lam for v in lams])
    if callback is not None:
        callback(len(ts) - 1, x)
    return x


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


def affine_law(denoiser, process, label: str, steps: int, t_min=KARRAS_T_MIN, start=None):
    """Exact (mean, std) of a sampler's output when the 1-D ``denoiser`` is
    affine in ``x``, from ``start`` = (mean, std) (default the source ``N(0,
    process.scale^2)``).

    Every step is then affine in ``x`` and in the noise, so the output is
    ``alpha x1 + beta + sum_k c_k z_k``: one batched run of the sampler
    itself reads the coefficients off probe rows (``x1 = 0`` and ``1``
    without noise, then a unit draw at step ``k`` in row ``k + 2``).
    """
    name, grid = parse_label(label)
    probe = np.zeros((steps + 2, 1))
    probe[1] = 1.0
    out = sample(denoiser, process, probe, time_grid(steps, grid, t_min), sampler(name), _ProbeNoise())[:, 0]
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
    ts = time_grid(steps, parse_label(label)[1], t_min)
    exact = [gaussian_flow_map(process, mean, std, x1, t) for t in ts[:-1]]
    exact.append(gaussian_posterior_mean(process, mean, std, exact[-1], ts[-2]))
    return float(np.abs(path - np.stack(exact)).max())


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
