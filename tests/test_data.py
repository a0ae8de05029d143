"""Analytic denoisers against independent computations."""

import numpy as np
import pytest
from scipy import integrate, stats

from stepdiff import data
from stepdiff.seeds import rng_for


def quadrature_posterior_mean(dist, x, sigma_t):
    """E[x0 | x0 + sigma_t eps = x] for 1-D Gaussian mixtures, by numerical integration."""
    a, s, w = dist.means[:, 0], dist.stds, dist.weights

    def prior(u):
        return np.sum(w * stats.norm.pdf(u, a, s))

    def like(u):
        return stats.norm.pdf(x, u, sigma_t)

    lo, hi = a.min() - 10 * s.max(), a.max() + 10 * s.max()
    num = integrate.quad(lambda u: u * prior(u) * like(u), lo, hi, points=list(a), limit=200)[0]
    den = integrate.quad(lambda u: prior(u) * like(u), lo, hi, points=list(a), limit=200)[0]
    return num / den


@pytest.mark.parametrize("sigma_t", [0.3, 1.0, 3.0])
def test_mixture_posterior_mean_matches_quadrature(sigma_t):
    dist = data.GaussianMixture([[-1.0], [2.0], [4.0]], [0.5, 0.3, 1.0], [0.2, 0.5, 0.3])
    x = np.linspace(-3, 6, 7)[:, None]
    got = dist.posterior_mean(x, sigma_t)[:, 0]
    want = [quadrature_posterior_mean(dist, xi, sigma_t) for xi in x[:, 0]]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_gaussian_denoiser_closed_form():
    m, s, sigma, t = np.array([1.0, -2.0]), 0.5, 3.0, 0.4
    x = np.random.default_rng(0).standard_normal((10, 2))
    sigma_t2 = sigma**2 * t
    want = m + s**2 / (s**2 + sigma_t2) * (x - m)
    np.testing.assert_allclose(data.gaussian(m, s).posterior_mean(x, sigma * np.sqrt(t)), want, rtol=1e-12)


def test_point_mass_posterior_is_a_softmax_over_masses():
    pts = np.array([[0.0, 0.0], [1.0, 0.0]])
    dist = data.point_masses(pts, [0.25, 0.75])
    x = np.array([[0.3, 0.2]])
    sigma_t = 0.7
    logits = np.log([0.25, 0.75]) - ((x - pts) ** 2).sum(1) / (2 * sigma_t**2)
    pi = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(dist.posterior_mean(x, sigma_t)[0], pi @ pts, rtol=1e-12)


def test_mixture_sampling_weights_and_reproducibility():
    dist = data.point_masses([[0.0], [1.0]], [0.3, 0.7])
    n = 20_000
    x = dist.sample(n, rng_for(0, "a"))
    np.testing.assert_array_equal(x, dist.sample(n, rng_for(0, "a")))
    assert abs(np.mean(x == 1.0) - 0.7) < 5 * np.sqrt(0.21 / n)


def test_from_config_kinds():
    assert data.from_config({"kind": "gaussian", "mean": 3.0, "std": 0.5}).dim == 1
    pm = data.from_config({"kind": "point_masses", "points": [[2, 2], [-2, 2]]})
    np.testing.assert_allclose(pm.weights, [0.5, 0.5])
    with pytest.raises(ValueError, match="kind"):
        data.from_config({"kind": "moons"})


def test_posterior_is_exact_far_from_the_origin():
    """Masses at 1e6 and 1e6 + 0.1, sigma_t = 0.01, x = 1e6 + 0.055: distances
    0.055 and 0.045 give weights in the ratio exp(-5), so the mean is
    1e6 + 0.1 / (1 + exp(-5)). Expanding |x - a|^2 around 0 loses it (logits near 1e16)."""
    masses = data.point_masses([[1e6, 0.0], [1e6 + 0.1, 0.0]])
    out = masses.posterior_mean(np.array([[1e6 + 0.055, 0.0]]), 0.01)
    assert out[0, 0] - 1e6 == pytest.approx(0.1 / (1 + np.exp(-5)), abs=1e-9)


@pytest.mark.parametrize("t", [0.05, 0.3, 0.9, 1.0])
def test_flow_posterior_of_point_masses_matches_math_md(t):
    """docs/theory.md section 8: for x_t = (1 - t) x0 + t s eps, the posterior over
    masses is pi_i ~ w_i exp(-|x - (1 - t) a_i|^2 / (2 t^2 s^2)); at t = 1 it is
    the prior, so E[x0 | x_1] = E[x0]."""
    a, w, s = np.array([[2.0, 2.0], [-2.0, 2.0], [0.0, -1.0]]), np.array([0.5, 0.3, 0.2]), 1.3
    x = np.random.default_rng(1).standard_normal((6, 2)) * 2
    got = data.point_masses(a, w).posterior_mean(x, t * s, 1 - t)
    logits = np.log(w) - ((x[:, None] - (1 - t) * a[None]) ** 2).sum(-1) / (2 * t**2 * s**2)
    pi = np.exp(logits - logits.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    np.testing.assert_allclose(got, pi @ a, rtol=1e-12, atol=1e-12)
    if t == 1:
        np.testing.assert_allclose(got, np.broadcast_to(w @ a, x.shape), rtol=1e-12)


def test_a_1d_mixtures_cdf_is_its_components_and_its_point_masses_are_steps():
    """Against scipy's normal CDF, component by component; point masses (std 0)
    jump by their weight at their point, right-continuous; only 1-D laws."""
    mix = data.GaussianMixture(means=[[-1.0], [2.0]], stds=[0.5, 1.5], weights=[0.25, 0.75])
    x = np.linspace(-4, 6, 101)
    expected = 0.25 * stats.norm.cdf(x, -1, 0.5) + 0.75 * stats.norm.cdf(x, 2, 1.5)
    np.testing.assert_allclose(mix.cdf(x), expected, atol=1e-15)
    points = data.GaussianMixture(means=[[0.0], [1.0]], stds=0.0, weights=[0.4, 0.6])
    np.testing.assert_array_equal(points.cdf([-1e-12, 0.0, 0.5, 1.0 - 1e-12, 1.0]), [0, 0.4, 0.4, 0.4, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        data.GaussianMixture(means=[[0.0, 0.0]], stds=1.0, weights=[1.0]).cdf(0.0)
