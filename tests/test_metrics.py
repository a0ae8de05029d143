"""Metrics: brute-force references, identities, and monotone response."""

import numpy as np
import pytest

from stepdiff import data, laws, metrics, scores
from stepdiff.process import Diffusion


def brute_energy(x, y):
    def mean_dist(a, b, distinct):
        d = np.array([[np.linalg.norm(p - q) for q in b] for p in a])
        return d.sum() / (len(a) * (len(a) - 1)) if distinct else d.mean()

    return 2 * mean_dist(x, y, False) - mean_dist(x, x, True) - mean_dist(y, y, True)


def test_energy_distance_matches_brute_force_and_chunking():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 2)), rng.standard_normal((45, 2)) + 0.3
    want = brute_energy(x, y)
    assert metrics.energy_distance(x, y) == pytest.approx(want, rel=1e-10)
    # a sweep reuses the held-out set's self-distances: the same numbers
    assert metrics.energy_distance_se(x, y, metrics.self_distances(y)) == metrics.energy_distance_se(x, y)
    # tiny blocks force many chunks: same value
    for chunked, whole in zip(
        metrics._row_mean_distances(x, y, False, max_block=7), metrics._row_mean_distances(x, y, False)
    ):
        np.testing.assert_allclose(chunked, whole, rtol=1e-12)


def test_metrics_are_at_their_floor_for_identical_inputs_and_grow_with_shift_and_blur():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 2))
    # Identical inputs: the cross term includes the n zero self-distances, so
    # the U-statistic is exactly -2 E|X-X'| / n, a floor of order 1/n; SW2 and
    # the nearest-neighbour distance are exactly zero.
    within = metrics._row_mean_distances(x, x, True)[0].mean()
    assert metrics.energy_distance(x, x) == pytest.approx(-2 * within / len(x), rel=1e-9)
    assert metrics.sliced_wasserstein2(x, x) == 0.0
    assert metrics.nn_median(x, x) == 0.0
    previous = {"energy": 0.0, "sw2": 0.0}
    for shift in (0.1, 0.3, 1.0):
        y = x + [shift, 0.0]
        now = {"energy": metrics.energy_distance(x, y), "sw2": metrics.sliced_wasserstein2(x, y)}
        assert all(now[k] > previous[k] for k in now)
        previous = now
    noise = rng.standard_normal(x.shape)
    for metric in (metrics.energy_distance, metrics.sliced_wasserstein2):
        values = [metric(x, x + b * noise) for b in (0.0, 0.5, 1.5)]
        assert values[0] < values[1] < values[2]


def test_nn_median_grows_as_samples_leave_a_thin_support():
    """The nearest-neighbour distance measures precision on thin data (the
    Swiss roll is a curve): it grows with the blur off a circle."""
    rng = np.random.default_rng(6)
    angle = rng.uniform(0, 2 * np.pi, 4000)
    circle = np.stack([np.cos(angle), np.sin(angle)], 1)
    ref, x = circle[:2000], circle[2000:]
    values = [metrics.nn_median(x * (1 + b * rng.standard_normal((2000, 1))), ref) for b in (0, 0.01, 0.1)]
    assert values[0] < values[1] < values[2]


def test_sliced_w2_of_a_shift():
    """Projections of a shift c onto a random unit direction in 2-D have mean
    square |c|^2 / 2; with 256 directions the estimate is within ~0.03."""
    x = np.random.default_rng(2).standard_normal((500, 2))
    c = np.array([0.6, -0.8])  # |c| = 1
    assert metrics.sliced_wasserstein2(x, x + c) == pytest.approx(1 / np.sqrt(2), abs=0.03)


def test_one_d_scores_against_the_exact_law():
    """Exact draws of the predicted output law pass the KS test: the 1% critical
    value of the KS statistic is 1.63 / sqrt(n)."""
    dist = data.gaussian(3.0, np.sqrt(0.5))
    sigma, n = np.sqrt(50), 50_000
    mean, std = laws.gaussian_moments(3.0, np.sqrt(0.5), sigma, "ddim", 20)
    x = np.random.default_rng(3).normal(mean, std, (n, 1))
    test = dist.sample(n, np.random.default_rng(4))
    out = scores.evaluate(dist, x, test, Diffusion(sigma), "ddim", 20)
    assert out["ks_exact"] < 1.63 / np.sqrt(n)
    # the moments' standard errors: the sample sits on the exact law within 4 of them
    assert abs(out["mean"] - mean) < 4 * out["mean_se"] and abs(out["std"] - std) < 4 * out["std_se"]
    assert out["mean_se"] == pytest.approx(std / np.sqrt(n), rel=0.02)
    assert out["ks_data"] > 10 / np.sqrt(n)  # DDIM at 20 steps is far from the data
    assert out["exact_mean"] == pytest.approx(mean) and out["exact_std"] == pytest.approx(std)
    floor = metrics.noise_floor(dist, dist.sample(n, np.random.default_rng(5)), test)
    assert floor["ks_data"] < 1.63 / np.sqrt(n) and floor["ks_exact"] == floor["ks_data"]
    assert floor["w1_data"] < out["w1_data"] / 10


def test_point_mass_scores():
    dist = data.point_masses([[2.0, 2.0], [-2.0, 2.0]])
    x = np.array([[2.0, 2.0], [2.0, 2.0005], [-2.0, 2.0], [0.0, 2.0]])
    out = metrics.score(dist, x, None)
    assert out["frac_at_mass_0"] == 0.5 and out["frac_at_mass_1"] == 0.25
    assert out["max_dist"] == pytest.approx(2.0)
    assert metrics.noise_floor(dist, x, x) == {}


def test_exact_gaussian_distances_against_closed_forms_and_sampling():
    """Equal widths have closed forms: KS = 2 Phi(|dm| / 2s) - 1, W1 = |dm|.
    Unequal widths: W1 against scipy on 10^6 draws per side, whose error is a
    few 1e-3 (tolerance 0.01)."""
    from scipy import stats

    assert scores.gaussian_ks(0, 1, 0.5, 1) == pytest.approx(2 * stats.norm.cdf(0.25) - 1, abs=1e-6)
    assert scores.gaussian_w1(0, 1, 0.5, 1) == pytest.approx(0.5, abs=1e-9)
    rng = np.random.default_rng(8)
    x, y = rng.normal(1, 2, 1_000_000), rng.normal(0, 1, 1_000_000)
    assert scores.gaussian_w1(1, 2, 0, 1) == pytest.approx(stats.wasserstein_distance(x, y), abs=0.01)


def test_energy_standard_error_matches_the_spread_over_draws():
    """The first-order standard error of the energy distance against the spread
    of the statistic over 300 independent draws of two different laws (n = 200
    and m = 300). The sample std of 300 values is within 8% of the truth
    (2 SE: sqrt(1/(2*300)) = 4%), and the first-order formula neglects terms
    of relative order 1/n; 15% covers both."""
    rng = np.random.default_rng(8)
    values, errors = [], []
    for _ in range(300):
        x = rng.standard_normal((200, 2))
        y = rng.standard_normal((300, 2)) * 1.3 + [0.4, 0.0]
        value, se = metrics.energy_distance_se(x, y)
        values.append(value)
        errors.append(se)
    assert np.mean(errors) == pytest.approx(np.std(values, ddof=1), rel=0.15)
    assert metrics.energy_distance(x, y) == values[-1]


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_nn_median_error_matches_its_spread_over_redraws(shift):
    """200 redraws of both sets (1000 points each) give the metric's actual
    spread; the mean estimated standard error is within 25% of it. (With 200
    redraws, the spread itself is known to 5%.)"""
    rng = np.random.default_rng(7)
    values, errors = [], []
    for _ in range(200):
        x, y = rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)) + [shift, 0.0]
        value, se = metrics.nn_median_se(x, y)
        values.append(value)
        errors.append(se)
    ratio = np.mean(errors) / np.std(values, ddof=1)
    assert 0.75 < ratio < 1.25, ratio


SW2_REDRAWS = 400


def sw2_error_ratio(shift, n=400, redraws=SW2_REDRAWS):
    """The mean estimated standard error of SW2 over its actual spread across
    ``redraws`` redraws of both sets (n points each), and the resolution of
    that ratio: the spread's relative sampling error 1 / sqrt(2 (R - 1)) and
    the mean error's own (the per-draw errors' coefficient of variation over
    sqrt(R)), combined."""
    rng = np.random.default_rng(7)
    values, errors = np.empty(redraws), np.empty(redraws)
    for i in range(redraws):
        x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + [shift, 0.0]
        values[i], errors[i] = metrics.sliced_wasserstein2_se(x, y)
    resolution = np.sqrt(1 / (2 * (redraws - 1)) + (errors.std(ddof=1) / errors.mean()) ** 2 / redraws)
    return errors.mean() / values.std(ddof=1), resolution


@pytest.mark.parametrize("shift", [0.3, 1.0])
def test_sw2_error_matches_its_spread_over_redraws_at_a_distance(shift):
    """What ``sliced_wasserstein2_se`` claims, "right at a distance": the mean
    estimated error equals the spread over 400 redraws within 4 times the
    resolution of that comparison (``sw2_error_ratio``: about 4%, so within
    17%). The estimator's own bias, measured over 4000 redraws (resolution
    1.3%), is +6% at shift 0.3 and -4% at shift 1: inside. Planted, an
    error twice too large, or not divided by sqrt(groups), is off by 100% or
    more."""
    ratio, resolution = sw2_error_ratio(shift)
    assert resolution < 0.05
    assert abs(ratio - 1) < 4 * resolution, (ratio, resolution)


def test_sw2_error_is_conservative_at_the_noise_floor():
    """At the floor (two draws of one law) the claim is only that the error
    is too large, not too small, beyond the resolution (measured: 2.2 times
    the spread). Planted, an error divided by groups instead of sqrt(groups)
    is too small here too."""
    ratio, resolution = sw2_error_ratio(0.0)
    assert ratio - 1 > 4 * resolution, (ratio, resolution)


def test_curve_scores_are_exact_for_points_at_known_distances_from_the_roll():
    """Points moved along the roll's normal by known offsets (below the
    radius of curvature and the gap to the next arm) are at exactly those
    distances: the median, the 99th percentile and the fraction beyond the
    threshold are those of the offsets themselves."""
    roll = data.SwissRoll(scale=0.07)
    curve, rng = roll.curve, np.random.default_rng(4)
    u = rng.uniform(curve.lo + 0.1, curve.hi - 0.1, 3000)
    tangent = np.stack([np.cos(u) - u * np.sin(u), np.sin(u) + u * np.cos(u)], 1)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.linalg.norm(tangent, axis=1)[:, None]
    offset = np.abs(rng.standard_normal(3000)) * 0.004
    x = curve.point(u) + offset[:, None] * normal
    out = metrics.score(roll, x, x[:100], curve_threshold=0.01)
    assert out["curve_median"] == pytest.approx(np.median(offset), abs=1e-12)
    assert out["curve_p99"] == pytest.approx(np.quantile(offset, 0.99), abs=1e-12)
    far = np.mean(offset > 0.01)
    assert out["curve_far"] == far and out["curve_far_se"] == pytest.approx(np.sqrt(far * (1 - far) / 3000))
    assert "curve_median" not in metrics.score(
        data.Spiral(turns=3, noise=0.1), x, x[:100], curve_threshold=0.01
    )
    assert "curve_median" not in metrics.score(roll, x, x[:100])  # no threshold: not asked


@pytest.mark.parametrize("q", [0.5, 0.99])
def test_quantile_standard_error_matches_the_spread_over_redraws(q):
    """R = 400 redraws of 2000 distances: the mean estimated error against the
    spread of the estimates, within 4 resolutions, the resolution being
    sqrt(1/(2(R-1)) + cv^2/R) (the spread's own sampling error and the
    estimates' scatter, cv their coefficient of variation): about 4% here.
    Measured over two seeds: 1.01 to 1.06 at the median, 0.95 to 1.01 at the
    99th percentile."""
    rng, R = np.random.default_rng(0), 400
    found = [metrics.quantile_se(np.abs(rng.standard_normal(2000)) * 0.003, q) for _ in range(R)]
    values, errors = np.array(found).T
    cv = errors.std() / errors.mean()
    resolution = np.sqrt(1 / (2 * (R - 1)) + cv**2 / R)
    assert abs(errors.mean() / values.std(ddof=1) - 1) < 4 * resolution
