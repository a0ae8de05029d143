"""Samplers against the exact oracles of MATH.md section 6."""

import numpy as np
import pytest

from stepdiff import data, sampling
from stepdiff.config import run_label


@pytest.mark.parametrize("steps", [1, 2, 7, 50, 1000])
@pytest.mark.parametrize("grid", ["uniform", "sigma", "karras"])
def test_ddim_lands_exactly_on_a_point_mass(steps, grid):
    a = np.array([2.0, 3.0])
    rng = np.random.default_rng(0)
    x1 = 20 * rng.standard_normal((500, 2))
    ts = sampling.time_grid(steps, grid)
    x, path = sampling.ddim(data.point_masses([a]).denoiser(4.0), x1, ts, 4.0, trajectory=500)
    np.testing.assert_allclose(x, np.broadcast_to(a, x.shape), rtol=0, atol=1e-9)
    # Straight lines towards a: x_t - a = sqrt(t) (x_1 - a), sigma_t / sigma_1 = sqrt(t).
    expected = a + np.sqrt(ts)[:, None, None] * (x1 - a)[None]
    np.testing.assert_allclose(path, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "sampler, mean, std",
    [("ddpm", 1.9459, 0.5043), ("ddim", 1.6804, 0.4794)],
)
def test_gaussian_moments_match_math_md(sampler, mean, std):
    # MATH.md section 6: m=2, s=0.5, sigma=3, T=1000, base N(0, sigma^2).
    m, s = sampling.gaussian_moments(2.0, 0.5, 3.0, sampler, 1000)
    assert m == pytest.approx(mean, abs=5e-5)
    assert s == pytest.approx(std, abs=5e-5)


def test_gaussian_one_step_mean_is_affine_with_exact_coefficient():
    # MATH.md section 4: mu(x, t) = m + a_t (x - m), a_t = (s^2 + sigma_{t-dt}^2) / (s^2 + sigma_t^2).
    m, s, sigma, t, dt = 3.0, 0.7, 5.0, 0.3, 0.01
    x = np.linspace(-20, 20, 11)[:, None]
    d = data.gaussian(m, s).denoiser(sigma)(x, t)
    mu = (dt / t) * d + (1 - dt / t) * x
    a_t = (s**2 + sigma**2 * (t - dt)) / (s**2 + sigma**2 * t)
    np.testing.assert_allclose(mu, m + a_t * (x - m), rtol=1e-12)


@pytest.mark.parametrize("steps", [10, 100, 1000])
@pytest.mark.parametrize("label", ["ddpm", "ddim", "ddim_karras", "ddpm_sigma"])
def test_gaussian_samples_match_exact_moments(label, steps):
    """Sample mean and variance within 5 standard errors of the exact recursion.

    For n normal draws, the mean has SE std/sqrt(n) and the variance has SE
    var*sqrt(2/(n-1)); 5 SE makes a false alarm rarer than 1e-6 per check.
    """
    m, s, sigma, n = 3.0, np.sqrt(0.5), np.sqrt(50.0), 20_000
    rng = data.rng_for(7, label, steps)
    x = sampling.run(data.gaussian(m, s).denoiser(sigma), label, steps, n, 1, sigma, rng)[:, 0]
    mean, std = sampling.gaussian_moments(m, s, sigma, label, steps)
    assert abs(x.mean() - mean) < 5 * std / np.sqrt(n)
    assert abs(x.var(ddof=1) - std**2) < 5 * std**2 * np.sqrt(2 / (n - 1))


def test_the_gap_to_the_data_is_the_samplers_own_error():
    # DDIM on exp0 converges to mean ~2.72, not 3: the exact law predicts it.
    mean, _ = sampling.gaussian_moments(3.0, np.sqrt(0.5), np.sqrt(50), "ddim", 1000)
    assert 2.70 < mean < 2.74


def test_softmax_is_finite_at_the_last_step_far_from_every_point():
    masses = data.point_masses([[1e3, 0.0], [-1e3, 0.0], [0.0, 1e3]])
    d = masses.denoiser(1.0)
    x = np.array([[0.0, -1e3], [5e3, 6e3], [1e3 + 0.1, 0.0], [0.0, 0.0]])
    out = d(x, 1e-3)  # t = dt for 1000 steps: sigma_t ~ 0.03, raw densities underflow
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[2], [1e3, 0.0])  # nearest mass wins
    np.testing.assert_allclose(out[1], [0.0, 1e3])  # (5e3, 6e3) is nearest to (0, 1e3)


@pytest.mark.parametrize(
    "weights, sigma, label, steps",
    [([0.5, 0.5], 10.0, "ddim", 2000), ([0.8, 0.2], 50.0, "ddim_sigma", 1000)],
)
def test_two_masses_ddim_fractions_match_weights(weights, sigma, label, steps):
    """With enough steps every DDIM sample lands on a mass, in proportion to the
    weights up to binomial error (5 SE). Landing needs sigma_t at the last step
    well below the gap of 4: 10 sqrt(1/2000) = 0.22 on the uniform grid; at
    sigma = 50 the grid uniform in sigma_t ends at 50 / 1000 = 0.05. The base
    N(0, sigma^2 I) differs from p_1 by a shift of |E x0| / sigma: zero by
    symmetry for equal weights, 0.024 sigma for the unequal case, which moves
    the fraction by about 0.007, well inside 5 SE = 0.032."""
    points = np.array([[2.0, 2.0], [-2.0, 2.0]])
    n = 4000
    rng = data.rng_for(11, *weights)
    x = sampling.run(data.point_masses(points, weights).denoiser(sigma), label, steps, n, 2, sigma, rng)
    dist = np.linalg.norm(x[:, None] - points[None], axis=2)
    assert np.all(dist.min(1) < 1e-3)
    frac = np.mean(dist[:, 0] < 1e-3)
    assert abs(frac - weights[0]) < 5 * np.sqrt(weights[0] * (1 - weights[0]) / n)


def test_time_grids():
    for grid in ("uniform", "sigma", "karras"):
        ts = sampling.time_grid(10, grid)
        assert ts[0] == 1.0 and ts[-1] == 0.0 and len(ts) == 11
        assert np.all(np.diff(ts) < 0)
    # grids that favour small t put more steps below t = 0.1
    below = {g: np.sum(sampling.time_grid(20, g) < 0.1) for g in ("uniform", "sigma", "karras")}
    assert below["uniform"] < below["sigma"] < below["karras"]
    with pytest.raises(ValueError, match="steps"):
        sampling.time_grid(0)
    with pytest.raises(ValueError, match="grid"):
        sampling.time_grid(5, "cosine")


def test_ddpm_needs_a_generator_and_is_reproducible():
    d = data.gaussian(0.0, 1.0).denoiser(2.0)
    ts = sampling.time_grid(5)
    with pytest.raises(ValueError, match="generator"):
        sampling.sample(d, np.zeros((3, 1)), ts, 2.0, stochastic=True)
    a = sampling.run(d, run_label("ddpm"), 5, 100, 1, 2.0, data.rng_for(1, "x"))
    b = sampling.run(d, run_label("ddpm"), 5, 100, 1, 2.0, data.rng_for(1, "x"))
    c = sampling.run(d, run_label("ddpm"), 5, 100, 1, 2.0, data.rng_for(2, "x"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
