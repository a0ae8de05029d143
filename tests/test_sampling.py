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
    x1 = sigma * rng.standard_normal((n, 1))
    x = sampling.run(data.gaussian(m, s).denoiser(sigma), label, steps, x1, sigma, rng)[:, 0]
    mean, std = sampling.gaussian_moments(m, s, sigma, label, steps)
    assert abs(x.mean() - mean) < 5 * std / np.sqrt(n)
    assert abs(x.var(ddof=1) - std**2) < 5 * std**2 * np.sqrt(2 / (n - 1))


class _Noise:
    """A stand-in generator whose draws are set by the test: zeros, except a
    unit draw at one chosen step (DDPM draws once per step)."""

    def __init__(self, hot_step=None):
        self.hot_step, self.calls = hot_step, 0

    def standard_normal(self, shape):
        z = np.full(shape, 1.0 if self.calls == self.hot_step else 0.0)
        self.calls += 1
        return z


def law_by_probing(m, s, sigma, label, steps):
    """The output law of a sampler on N(m, s^2) data, read off the sampler
    code itself: every step is affine, so the output is ``alpha x1 + beta +
    sum_k c_k z_k``; run it on x1 = 0 and 1 with z = 0 for alpha and beta,
    and with one unit draw at step k for c_k. Independent of
    ``gaussian_moments``, which uses the closed-form coefficients."""
    name, grid = sampling.parse_label(label)
    d = data.gaussian(m, s).denoiser(sigma)
    ts = sampling.time_grid(steps, grid)
    stochastic = name == "ddpm"
    probe = np.array([[0.0], [1.0]])
    out = sampling.sample(d, probe, ts, sigma, stochastic=stochastic, rng=_Noise())[:, 0]
    beta, alpha = out[0], out[1] - out[0]
    var = (alpha * sigma) ** 2  # the start is N(0, sigma^2)
    if stochastic:
        for k in range(steps):
            c = sampling.sample(d, probe[:1], ts, sigma, stochastic=True, rng=_Noise(k))[0, 0] - beta
            var += c**2
    return beta, np.sqrt(var)


@pytest.mark.parametrize("steps", [1, 3, 10, 40])
@pytest.mark.parametrize("label", ["ddpm", "ddim", "ddpm_sigma", "ddim_sigma", "ddpm_karras", "ddim_karras"])
def test_gaussian_moments_equal_the_law_of_the_sampler_code(label, steps):
    """Exact, on every grid: the closed-form recursion against the sampler's
    own affine map (float rounding only)."""
    expected = law_by_probing(3.0, np.sqrt(0.5), np.sqrt(50.0), label, steps)
    got = sampling.gaussian_moments(3.0, np.sqrt(0.5), np.sqrt(50.0), label, steps)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_gap_to_the_data_is_the_samplers_own_error():
    """exp0's DDIM mean (m = 3, s^2 = 0.5, sigma^2 = 50) is not 3. Predicted:
    the probability-flow ODE maps x1 to m + (x1 - m) s / sqrt(s^2 + sigma^2),
    so from the base N(0, sigma^2) its mean is m (1 - s / sqrt(s^2 + sigma^2))
    = 2.70149 (the start mismatch). DDIM is that ODE's Euler method in
    sigma_t, so on the grid uniform in sigma_t its mean tends there with an
    error that halves when the steps double (first order). On the tutorial's
    grid (uniform in t) the rest at 1000 steps, 2.7206 - 2.7015, is
    discretisation, read off the sampler code by probing."""
    m, s, sigma = 3.0, np.sqrt(0.5), np.sqrt(50.0)
    limit = m * (1 - s / np.sqrt(s**2 + sigma**2))
    assert limit == pytest.approx(2.70149, abs=1e-5)
    errors = [sampling.gaussian_moments(m, s, sigma, "ddim_sigma", n)[0] - limit for n in (1000, 2000, 4000)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.005)
    assert sampling.gaussian_moments(m, s, sigma, "ddim", 1000)[0] == pytest.approx(
        law_by_probing(m, s, sigma, "ddim", 1000)[0], abs=1e-12
    )


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
    x1 = sigma * data.rng_for(11, *weights).standard_normal((n, 2))
    x = sampling.run(data.point_masses(points, weights).denoiser(sigma), label, steps, x1, sigma)
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
    x1 = np.zeros((100, 1))
    a = sampling.run(d, run_label("ddpm"), 5, x1, 2.0, data.rng_for(1, "x"))
    b = sampling.run(d, run_label("ddpm"), 5, x1, 2.0, data.rng_for(1, "x"))
    c = sampling.run(d, run_label("ddpm"), 5, x1, 2.0, data.rng_for(2, "x"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
