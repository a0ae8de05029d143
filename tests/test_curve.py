"""The exact denoiser of data on a curve (the Swiss roll, the spiral) and the
distance to the curve, against brute force (docs/theory.md section 12)."""

import numpy as np
import pytest

from stepdiff import data, process, runner
from stepdiff.curve import Curve
from stepdiff.seeds import rng_for

ROLL = data.SwissRoll(scale=0.07)
BRUTE_ANGLES = 1_000_000


def brute_force(dist, x, sigma_t, alpha=1.0, n=BRUTE_ANGLES):
    """E[x0 | x] by the midpoint rule on ``n`` equally spaced angles, in row
    blocks; the weights are exact differences (no expansion), normalised by
    their largest value."""
    curve = dist.curve
    u = curve.lo + (curve.hi - curve.lo) * (np.arange(n) + 0.5) / n
    points = curve.point(u)
    var = sigma_t**2 + (alpha * dist.noise_std) ** 2
    shrink = alpha * dist.noise_std**2 / var
    scaled = alpha * points
    out = []
    for row in x:
        d = row - scaled  # the plane's two coordinates summed by hand: .sum(1) is 3x slower here
        logw = -(d[:, 0] ** 2 + d[:, 1] ** 2) / (2 * var)
        w = np.exp(logw - logw.max())
        out.append((1 - alpha * shrink) * (w @ points) / w.sum() + shrink * row)
    return np.array(out)


def queries(dist, sigma_t, n, rng, alpha=1.0):
    """Draws of x_t = alpha x0 + sigma_t eps, where a sampler queries the denoiser;
    a fifth of them next to the curve's ends, where the posterior is cut off."""
    curve = dist.curve
    u = rng.uniform(curve.lo, curve.hi, n)
    u[: n // 10] = curve.lo + rng.uniform(0, 0.02, n // 10)
    u[n // 10 : n // 5] = curve.hi - rng.uniform(0, 0.02, n // 10)
    x0 = curve.point(u) + dist.noise_std * rng.standard_normal((n, 2))
    return alpha * x0 + sigma_t * rng.standard_normal((n, 2))


@pytest.mark.parametrize("sigma_t", [1e-4, 1e-3, 0.01, 0.019, 0.021, 0.1, 1.0])
def test_roll_denoiser_matches_brute_force_quadrature(sigma_t):
    """Tolerance 1e-3 sigma_t. The midpoint reference on 10^6 angles is itself
    off by at most about (h / sigma_t)^2 / 24 of sigma_t, h <= 9.3e-6 the
    largest arc between its angles: 3.6e-4 sigma_t at sigma_t = 1e-4, far less
    above. A grid of 1000 nodes (the old denoiser) is off by up to half its
    spacing, 0.003, at small sigma_t; the rule switches method at 0.02."""
    rng = np.random.default_rng(int(1e6 * sigma_t))
    x = queries(ROLL, sigma_t, 40, rng)
    got = ROLL.posterior_mean(x, sigma_t)
    np.testing.assert_allclose(got, brute_force(ROLL, x, sigma_t), rtol=0, atol=1e-3 * sigma_t)


@pytest.mark.parametrize(
    "dist, alpha",
    [
        (data.SwissRoll(scale=0.07, noise=0.05), 1.0),  # blurred roll: the blur's shrinkage too
        (data.SwissRoll(scale=0.07), 0.3),  # a flow's alpha_t = 1 - t
        (data.Spiral(turns=3, noise=0.1), 0.7),
        (data.Spiral(turns=3, noise=0.0), 1.0),
    ],
)
@pytest.mark.parametrize("sigma_t", [1e-4, 0.01, 0.5])
def test_curve_denoisers_match_brute_force(dist, alpha, sigma_t):
    rng = np.random.default_rng(7)
    x = queries(dist, sigma_t, 20, rng, alpha)
    got = dist.posterior_mean(x, sigma_t, alpha)
    np.testing.assert_allclose(got, brute_force(dist, x, sigma_t, alpha), rtol=0, atol=1e-3 * sigma_t)


def test_flow_at_t_one_gives_the_curve_mean():
    """alpha = 0: x carries nothing of x0, so E[x0 | x] = E[x0], here by brute force."""
    curve = ROLL.curve
    u = curve.lo + (curve.hi - curve.lo) * (np.arange(BRUTE_ANGLES) + 0.5) / BRUTE_ANGLES
    got = ROLL.posterior_mean(np.zeros((3, 2)), 1.0, 0.0)
    np.testing.assert_allclose(got, np.broadcast_to(curve.point(u).mean(0), (3, 2)), atol=1e-10)


def test_ddim_with_the_exact_roll_denoiser_gives_distinct_samples():
    """The roll is a continuous law: DDIM from 2000 starts down to sigma_t =
    1e-4 lands on 2000 different points of the curve (at least 99%, after
    rounding to 1e-8: the expected number of pairs of independent curve
    points that close is 2000^2 / 2 * 2e-8 / 6.2 < 0.01). A grid of 1000
    nodes gives at most 1000: its samples copy the nodes."""
    proc = process.Diffusion(1.0)
    x1 = proc.source(2000, 2, np.random.default_rng(0))
    x = runner.run(process.exact_denoiser(proc, ROLL), proc, "ddim_karras", 50, x1, t_min=1e-8)
    assert len(np.unique(np.round(x, 8), axis=0)) >= 0.99 * len(x)
    assert np.median(ROLL.distance(x)) < 1e-3  # and they are on the roll


def test_distance_to_the_curve_is_exact_along_normals():
    """A point moved by d along the curve's normal at c(u) is at distance d,
    while d is below the radius of curvature and the gap to the next arm."""
    curve = Curve(0.07, 1.5 * np.pi, 4.5 * np.pi)
    rng = np.random.default_rng(3)
    u = rng.uniform(curve.lo + 0.1, curve.hi - 0.1, 500)
    tangent = np.stack([np.cos(u) - u * np.sin(u), np.sin(u) + u * np.cos(u)], 1)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.linalg.norm(tangent, axis=1)[:, None]
    d = rng.uniform(-0.05, 0.05, 500)
    np.testing.assert_allclose(curve.distance(curve.point(u) + d[:, None] * normal), np.abs(d), atol=1e-12)


def test_distance_beyond_the_ends_is_to_the_end_points():
    curve = Curve(0.07, 1.5 * np.pi, 4.5 * np.pi)
    end = curve.point(np.array([curve.hi]))[0]
    outward = end / np.linalg.norm(end)  # the roll's outer end points away from the centre
    far = end + 0.2 * outward
    np.testing.assert_allclose(curve.distance(far[None]), [0.2], rtol=1e-9)


def test_sklearn_roll_lies_on_the_curve():
    """Every noiseless draw is on the curve to rounding: the class's angle
    range and scale are sklearn's (a wrong range or scale moves draws off it)."""
    x = ROLL.sample(5000, rng_for(3, "test"))
    assert ROLL.distance(x).max() < 1e-12
    assert np.abs(x).max() < 1.0  # the default scale keeps the roll inside the unit disc
    spiral = data.Spiral(turns=3, noise=0.0)
    assert spiral.distance(spiral.sample(2000, np.random.default_rng(0))).max() < 1e-12
