"""Samplers: pure functions of a denoiser, a process, a start batch, a time
grid and a generator (docs/theory.md sections 2, 3, 8 and 9).

A sampler is a function ``sample_<name>(denoiser, process, x, ts, rng=None,
callback=None)`` that runs its own loop down the grid ``ts`` (as in
k-diffusion's ``sampling.py``), calling ``callback(i, x)`` after step ``i``;
``<name>`` is its entry in ``registry.SAMPLERS`` (which process it serves,
whether it is stochastic). A multistep or adaptive sampler writes its own
loop; the one-step ones share :func:`one_step_loop`. Denoiser evaluations
are counted, never declared (``runner.count_nfe``):

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
