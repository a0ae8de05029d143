"""Orders of convergence against the closed-form flow map of Gaussian data
(docs/theory.md sections 9 and 13; ``stepdiff.studies.orders``), and the
exponential integrators' steps against exact integrals."""

import math

import numpy as np
import pytest

from stepdiff import data, process, runner, sampling
from stepdiff.registry import ConfigError
from stepdiff.studies import orders

SPEC = {
    "data": {"kind": "gaussian", "mean": 2.0, "std": 0.5},
    "sigma": 3.0,
    "source": {"kind": "gaussian", "std": 1.3},
    "methods": ["ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc"],
    "grids": ["uniform", "sigma", "karras", "logsnr"],
    "steps": [5, 10, 20, 40, 80, 160, 320, 640],
    "t_min": 1e-4,
}
# The order each sampler reaches. DPM-Solver++(3M) is second order: its first
# step has no history and is DDIM's, whose local error O(h^2) stays in the
# result (a multistep method of order p needs starting values good to O(h^p)).
# UniPC's corrector lifts that first step to a local O(h^3): third order.
ORDER = {"ddim": 1, "euler": 1, "heun": 2, "dpmpp_2m": 2, "dpmpp_3m": 2, "unipc": 3}


@pytest.fixture(scope="module")
def fitted():
    """``{(sampler, grid, process): (order, fit_from, fit_to)}`` of the study
    at SPEC (2 s), with each combination's errors."""
    rows = orders.measure(SPEC)
    fits = {(r["sampler"], r["grid"], r["process"]): (r["order"], r["fit_from"], r["fit_to"]) for r in rows}
    errors = {}
    for r in rows:
        errors.setdefault((r["sampler"], r["grid"], r["process"]), []).append(r["error"])
    return fits, errors


@pytest.mark.parametrize("grid", ["karras", "logsnr"])
@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_every_sampler_reaches_its_order_where_steps_shrink_in_log_tau(fitted, kind, grid):
    """On the karras and logsnr grids every step shrinks in tau and in
    lambda = -log tau, and the error at fixed starts against the exact flow
    map falls as C steps^-p: DDIM and Euler p = 1, Heun and 2M 2, 3M 2 (its
    DDIM first step), UniPC 3, each within 0.2. The law holds from at most
    40 steps (below, the error is not yet asymptotic) up to 640, the largest
    count: round-off (about 1e-13) is far below UniPC's 5e-8 there."""
    fits, errors = fitted
    for sampler, nominal in ORDER.items():
        if (sampler, grid, kind) not in fits:  # ddim serves the diffusion, euler the flow
            continue
        order, first, last = fits[(sampler, grid, kind)]
        assert abs(order - nominal) <= 0.2, (sampler, order)
        assert first <= 40 and last == 640, (sampler, first, last)
        assert min(errors[(sampler, grid, kind)]) > 1e3 * orders.ROUNDOFF


@pytest.mark.parametrize(
    "kind, grid, samplers",
    [("diffusion", "sigma", ["ddim", "heun"]), ("flow", "uniform", ["euler", "heun"])],
)
def test_one_step_samplers_keep_their_order_on_grids_uniform_in_tau(fitted, kind, grid, samplers):
    """DDIM, Euler and Heun step in tau itself, so a grid uniform in tau (the
    diffusion's sigma grid, the flow's uniform grid) is their own: order 1
    and 2 within 0.2, up to 640 steps."""
    fits, _ = fitted
    for sampler in samplers:
        order, _, last = fits[(sampler, grid, kind)]
        assert abs(order - ORDER[sampler]) <= 0.2 and last == 640, (sampler, order)


def test_where_the_law_does_not_hold_no_order_is_fitted(fitted):
    """The diffusion's uniform grid (uniform in t: tau = sigma sqrt(t) steps
    by about sigma / sqrt(steps) near 0, and lambda by log 2 on the last
    step whatever the count): no sampler's error is C steps^-p by 640 steps.
    On the diffusion's sigma grid (uniform in tau) the multistep samplers'
    last steps in lambda are log((k + 1)/k) whatever the count: 2M, 3M and
    UniPC reach no order of their own there either."""
    fits, _ = fitted
    for sampler in ("ddim", "heun", "dpmpp_2m", "dpmpp_3m", "unipc"):
        assert math.isnan(fits[(sampler, "uniform", "diffusion")][0]), sampler
    for sampler in ("dpmpp_2m", "dpmpp_3m", "unipc"):
        assert math.isnan(fits[(sampler, "sigma", "diffusion")][0]), sampler


def test_fit_order_finds_the_range_of_the_power_law():
    """A power law C n^-3 after a pre-asymptotic start, bent by a floor at
    large n: the fit covers the straight part only (40 to 320). Errors
    below round-off (ROUNDOFF) are left out: n^-5 falls under 1e-11 after
    80. A curve whose local slope keeps drifting has no order."""
    n = np.array([5, 10, 20, 40, 80, 160, 320, 640])
    order, first, last = orders.fit_order(n, 7.0 * n**-3.0 * (1 + 2.0 / n) + 1e-8)
    assert order == pytest.approx(3.0, abs=0.05) and (first, last) == (40, 320)
    assert orders.fit_order(n, n**-5.0) == pytest.approx((5.0, 5, 80))
    drifting = np.exp(-(np.log(n) ** 1.5))  # local slope grows like sqrt(log n)
    assert math.isnan(orders.fit_order(n, drifting)[0])


def test_exponential_step_integrates_its_polynomial_exactly():
    """With D a polynomial in lambda of degree < number of nodes, the step
    is the exact solution x_s = e^-h x + int_0^h e^(v - h) D(v) dv (here by
    40-point Gauss-Legendre quadrature, exact to round-off for this smooth
    integrand), wherever the nodes lie (UniPC's corrector has one at h).
    The D'' term is c3 p'' with c3 = h^2/2 - c2: the phi_3 term written in
    k-diffusion's sample_dpmpp_3m_sde (and DPM-Solver's multistep code) is
    half of it, and fails this test."""
    u, w = np.polynomial.legendre.leggauss(40)
    for h in (0.02, 0.3, 1.5):
        v = h * (u + 1) / 2
        for degree, nodes in ((0, [0.0]), (1, [0.0, -0.7 * h]), (2, [0.0, -h, -2.1 * h]), (2, [h, 0.0, -h])):
            coef = np.arange(1.0, degree + 2)
            exact = np.exp(-h) * 0.4 + h / 2 * np.sum(w * np.exp(v - h) * np.polyval(coef, v))
            step = sampling.exponential_step(0.4, h, [np.polyval(coef, x) for x in nodes], nodes)
            assert step == pytest.approx(exact, rel=1e-12, abs=1e-15), (h, degree, nodes)


def test_multistep_samplers_beat_ddim_at_ten_evaluations_on_a_mixture():
    """A 2-D mixture of three Gaussians under the diffusion (sigma = 10),
    exact denoiser, 200 fixed starts: at 10 NFE the RMS distance to a
    1000-step UniPC reference on the same grid (its own error about 1e-5:
    it agrees with 1000-step Heun) is at least 4 times smaller for 2M, 3M and
    UniPC than for DDIM (measured: 4.7 to 19 times), on karras and logsnr."""
    mix = data.GaussianMixture(
        np.array([[1.0, 1.0], [-1.5, 0.5], [0.3, -1.2]]), np.array([0.3, 0.2, 0.4]), np.array([0.5, 0.3, 0.2])
    )
    proc = process.Diffusion(10.0)
    denoiser = process.exact_denoiser(proc, mix)
    x1 = proc.source(200, 2, np.random.default_rng(0))
    for grid in ("karras", "logsnr"):
        reference = runner.run(denoiser, proc, f"unipc_{grid}", 1000, x1)
        runs = {
            n: runner.run(denoiser, proc, f"{n}_{grid}", 10, x1)
            for n in ("ddim", "dpmpp_2m", "dpmpp_3m", "unipc")
        }
        rms = {n: np.sqrt(np.mean(np.sum((x - reference) ** 2, axis=1))) for n, x in runs.items()}
        for name in ("dpmpp_2m", "dpmpp_3m", "unipc"):
            assert rms[name] <= rms["ddim"] / 4, (grid, rms)


def test_the_study_checks_its_section():
    """Each error names its key: a stochastic or unknown sampler, an unknown
    grid, data without a closed-form flow map, too few or unordered step counts."""
    orders.check(SPEC, "orders.o", {})
    for change, key in (
        ({"methods": ["ddpm"]}, "orders.o.methods"),
        ({"methods": ["dpmpp"]}, "orders.o.methods"),
        ({"grids": ["cosine"]}, "orders.o.grids"),
        ({"data": {"kind": "gaussian", "mean": [0.0, 1.0], "std": 1.0}}, "orders.o.data"),
        ({"source": {"kind": "annulus", "inner": 1.0, "outer": 2.0}}, "orders.o.source"),
        ({"steps": [10, 20, 40]}, "orders.o.steps"),
        ({"steps": [10, 20, 80, 40]}, "orders.o.steps"),
    ):
        with pytest.raises(ConfigError, match=key):
            orders.check({**SPEC, **change}, "orders.o", {})


def test_the_study_run_gives_its_columns_and_counted_nfe():
    """``run`` returns rows of COLUMNS and no arrays; Heun's NFE is 2 steps - 1."""
    spec = {**SPEC, "methods": ["heun", "unipc"], "grids": ["logsnr"], "steps": [4, 8, 16, 32]}
    rows, arrays = orders.run(spec, "orders", {}, {})
    assert arrays == {} and all(tuple(r) == orders.COLUMNS for r in rows)
    assert {(r["sampler"], r["steps"], r["nfe"]) for r in rows} == {
        (s, n, 2 * n - 1 if s == "heun" else n) for s in ("heun", "unipc") for n in (4, 8, 16, 32)
    }
