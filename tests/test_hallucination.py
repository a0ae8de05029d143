"""Hallucinations by mode interpolation (docs/theory.md section 21): exact labels,
the law's exact mass beyond k stds, the detector's window arithmetic, and the
scores, each against a closed form, a hand count, or a sampling tolerance
derived from the sample size (stated where it is used)."""

import numpy as np
import pytest
from conftest import grid_times
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from stepdiff import hallucination as h
from stepdiff import laws, process, runner

SCALE = np.sqrt(0.05**2 + 8.0)


def pairwise(means):
    d = np.linalg.norm(means[:, None] - means[None], axis=2)
    return np.sort(d[np.triu_indices(len(means), 1)])


# --- the laws ---------------------------------------------------------------


@pytest.mark.parametrize("rotated", [False, True])
def test_the_grids_are_their_lattice_scaled_to_unit_coordinate_std(rotated):
    grid = h.grid_2d(rotated)
    assert grid.means.shape == (25, 2)
    assert len(np.unique(grid.means.round(12), axis=0)) == 25
    np.testing.assert_allclose(grid.stds, 0.05 / SCALE, rtol=1e-15)
    np.testing.assert_allclose(grid.weights, 1 / 25, rtol=1e-15)
    assert pairwise(grid.means)[0] == pytest.approx(2 / np.sqrt(8.0025), rel=1e-14)
    # the law's coordinate variance: the lattice's 8 plus the component's, over SCALE^2
    second_moment = (grid.means**2).mean(0) + grid.stds[0] ** 2
    np.testing.assert_allclose(second_moment, 1.0, rtol=1e-14)


def test_the_rotated_grid_is_the_grid_turned_by_45_degrees():
    grid, diamond = h.grid_2d(), h.grid_2d(rotated=True)
    np.testing.assert_allclose(pairwise(diamond.means), pairwise(grid.means), rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(diamond.means, axis=1), np.linalg.norm(grid.means, axis=1))
    # a mode's nearest neighbours sit along the diagonals of the coordinates
    centre = np.argmin(np.linalg.norm(diamond.means, axis=1))
    near = diamond.means[np.argsort(np.linalg.norm(diamond.means - diamond.means[centre], axis=1))[1:5]]
    np.testing.assert_allclose(np.abs(near[:, 0]), np.abs(near[:, 1]), atol=1e-15)


def test_the_1d_law():
    law = h.modes_1d()
    np.testing.assert_array_equal(law.means[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(law.stds, 0.05)


# --- exact labels and the exact tail -------------------------------------------


def test_tail_probability_is_the_chi_tail():
    """Exact to the stated relative bound 1e-12 (the modes are 40 and 20 stds apart)."""
    for rotated in (False, True):
        assert h.tail_probability(h.grid_2d(rotated), 3.0) == pytest.approx(np.exp(-4.5), rel=1e-12)
    assert h.tail_probability(h.modes_1d(), 3.0) == pytest.approx(2 * norm.sf(3.0), rel=1e-12)
    assert h.tail_probability(h.modes_1d(), 0.0) == 1.0


def test_tail_probability_refuses_modes_too_close():
    close = h.GaussianMixture(np.array([[0.0], [0.5]]), 0.1, 1.0)
    with pytest.raises(ValueError, match="overlap"):
        h.tail_probability(close, 3.0)  # balls of 0.3 around modes 0.5 apart
    near = h.GaussianMixture(np.array([[0.0], [0.8]]), 0.1, 1.0)
    with pytest.raises(ValueError, match="other modes hold"):
        h.tail_probability(near, 3.0)  # disjoint, but the leak is ~Phi(-5), not negligible


@pytest.mark.parametrize("law", [h.grid_2d(), h.grid_2d(rotated=True), h.modes_1d()])
def test_a_draw_of_the_law_hallucinates_at_the_tail_rate(law):
    """200 000 draws: the fraction beyond 3 stds within 4 binomial SE of the exact tail."""
    x = law.sample(200_000, np.random.default_rng(20))
    got = h.rate(h.hallucinated(law, x, 3.0))
    p = h.tail_probability(law, 3.0)
    se = np.sqrt(p * (1 - p) / len(x))
    assert abs(got.value - p) < 4 * se, (got, p)


def test_nearest_mode_distance_by_hand():
    law = h.GaussianMixture(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([1.0, 2.0]), 1.0)
    x = np.array([[-3.0, 4.0], [10.0, 1.0], [6.0, 0.0]])
    # (-3, 4): 5 stds of mode 0 (6.8 of mode 1); (10, 1): half a std of mode 1;
    # (6, 0): 6 stds of mode 0, 2 of mode 1
    np.testing.assert_allclose(h.nearest_mode_distance(law, x), [5.0, 0.5, 2.0])
    np.testing.assert_array_equal(h.hallucinated(law, x, 3.0), [True, False, False])
    with pytest.raises(ValueError, match="positive std"):
        h.nearest_mode_distance(h.GaussianMixture(np.zeros((1, 2)), 0.0, 1.0), x)


def test_a_curve_law_is_labelled_by_its_distance():
    class Line:  # the x-axis: distance |y|
        def distance(self, x):
            return np.abs(x[:, 1])

    x = np.array([[0.0, 0.1], [5.0, -0.3]])
    np.testing.assert_array_equal(h.hallucinated(Line(), x, 0.2), [False, True])


@pytest.mark.parametrize("rotated", [False, True])
def test_between_labels_hand_placed_points(rotated):
    """Midpoints of axis neighbours (a apart) are AXIS, of diagonal neighbours
    (a sqrt 2 apart: the cell centres) DIAGONAL, on either grid."""
    grid = h.grid_2d(rotated)
    m = grid.means
    a = pairwise(m)[0]
    d = np.linalg.norm(m[:, None] - m[None], axis=2)
    i, j = np.triu_indices(len(m), 1)
    axis = np.isclose(d[i, j], a)
    diagonal = np.isclose(d[i, j], a * np.sqrt(2))
    assert axis.sum() == 40 and diagonal.sum() == 32
    mid = (m[i] + m[j]) / 2
    assert np.all(h.between(grid, mid[axis]) == h.AXIS)
    assert np.all(h.between(grid.means, mid[diagonal]) == h.DIAGONAL)
    assert h.hallucinated(grid, mid[axis | diagonal], 3.0).all()  # 20 and 28 stds out
    # a step along the coordinate x-axis: along the lattice's axis on the grid,
    # along its diagonal on the rotated grid (the control's point)
    step = m[12] + np.array([[0.3 * a, 0.0]])
    assert h.between(grid, step)[0] == (h.DIAGONAL if rotated else h.AXIS)


def test_between_in_1d_and_off_lattice():
    assert np.all(h.between(h.modes_1d(), np.array([1.5, 2.5])) == h.AXIS)
    with pytest.raises(ValueError, match="square lattice"):
        h.between(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]), np.zeros((1, 2)))


# --- the exact denoiser's samples -----------------------------------------------


def test_ddpm_with_the_exact_denoiser_hallucinates_at_the_law_rate():
    """1-D law, Diffusion(5), 20 000 samples, DDPM on the karras grid of 400
    steps down to t_min = 1e-6. The last DDPM step adds noise ``sigma sqrt(t_min)``
    = 0.005, a tenth of a mode's std (the default t_min = 1e-4 would add 0.05,
    the std itself, and inflate the output std by 23%). The sampler's
    discretisation bias is measured exactly on one mode, N(1, 0.05^2)
    (``laws.gaussian_law``: output std 1.0101 of the mode's, a tail 2.8e-4
    too high); tolerance 4 binomial SE of the tail plus that bias."""
    law, proc = h.modes_1d(), process.Diffusion(5.0)
    steps, t_min, k = 400, 1e-6, 3.0
    rng = np.random.default_rng(21)
    x1 = proc.source(20_000, 1, rng)
    out = runner.run(process.exact_denoiser(proc, law), proc, "ddpm_karras", steps, x1, rng, t_min)
    got = h.rate(h.hallucinated(law, out, k))
    p = h.tail_probability(law, k)
    m, s = laws.gaussian_law(1.0, 0.05, proc, "ddpm_karras", steps, t_min)
    bias = norm.sf((1 + k * 0.05 - m) / s) + norm.cdf((1 - k * 0.05 - m) / s) - p
    assert 0 < bias < 3e-4  # measured: 2.8e-4
    se = np.sqrt(p * (1 - p) / len(out))
    assert abs(got.value - p) < 4 * se + bias, (got, p, bias)
    # every sample still lands near some mode: no mass drifts between them
    assert h.nearest_mode_distance(law, out).max() < 8.0


# --- the detector -----------------------------------------------------------------


T = [1.0, 0.5, 0.1, 0.01, 0.001]  # Diffusion(1): noise levels sqrt(t) = 1, .71, .32, .1, .032
X = np.array([[1.0, 2.0], [3.0, 0.0]])
# D(x, t) = t x: over calls the prediction varies as t, so per row the
# variance is var(t) x_j^2, mean over dims var(t) * (2.5, 4.5)
ROW = np.array([2.5, 4.5])


def population_var(values):
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def recorded(window=None):
    proc = process.Diffusion(1.0)
    rec = h.Recorder(lambda x, t: t * x, window, proc)
    for t in T:
        np.testing.assert_array_equal(rec(X, t), t * X)
    return rec, proc


def test_trajectory_variance_by_hand():
    rec, proc = recorded()
    assert rec.calls == 5 and [t for t, _ in rec.records] == T
    last3 = population_var([0.1, 0.01, 0.001]) * ROW
    np.testing.assert_allclose(h.trajectory_variance(rec.records, proc, h.LastCalls(3)), last3, rtol=1e-12)
    levels = h.NoiseLevels(0.03, 0.4)  # 0.32, 0.1, 0.032: the same three calls
    np.testing.assert_allclose(h.trajectory_variance(rec.records, proc, levels), last3, rtol=1e-12)
    two = population_var([0.1, 0.01]) * ROW  # 0.32 and 0.1
    np.testing.assert_allclose(
        h.trajectory_variance(rec.records, proc, h.NoiseLevels(0.05, 0.5)), two, rtol=1e-12
    )
    np.testing.assert_allclose(
        h.trajectory_variance(rec.records, proc, h.LastCalls(2), ddof=1),
        2 * population_var([0.01, 0.001]) * ROW,
    )


@pytest.mark.parametrize("window", [h.LastCalls(3), h.NoiseLevels(0.03, 0.4)])
def test_a_recorder_with_a_window_keeps_only_what_the_window_selects(window):
    full, proc = recorded()
    kept, _ = recorded(window)
    assert kept.calls == 5 and len(kept.records) == 3
    np.testing.assert_array_equal(
        h.trajectory_variance(kept.records, proc, window), h.trajectory_variance(full.records, proc, window)
    )


def test_an_empty_window_raises_naming_itself():
    rec, proc = recorded()
    with pytest.raises(ValueError, match=r"NoiseLevels\(lo=2.0, hi=3.0\) holds 0 of the 5"):
        h.trajectory_variance(rec.records, proc, h.NoiseLevels(2.0, 3.0))
    with pytest.raises(ValueError, match="LastCalls"):
        h.trajectory_variance(rec.records, proc, h.LastCalls(1))  # one call: no variance
    with pytest.raises(ValueError, match="LastCalls"):
        h.trajectory_variance([], proc, h.LastCalls(10))
    with pytest.raises(ValueError, match="process"):
        h.Recorder(lambda x, t: x, h.NoiseLevels(0.0, 1.0))


def test_a_recorder_in_a_sampler_sees_every_grid_time():
    law, proc = h.modes_1d(), process.Diffusion(5.0)
    rec = h.Recorder(process.exact_denoiser(proc, law))
    rng = np.random.default_rng(22)
    runner.run(rec, proc, "ddpm_karras", 30, proc.source(50, 1, rng), rng, 1e-6)
    np.testing.assert_array_equal([t for t, _ in rec.records], grid_times(30, "karras", 1e-6)[:-1])
    assert h.trajectory_variance(rec.records, proc, h.LastCalls(10)).shape == (50,)


# --- scores -------------------------------------------------------------------------


def test_rate_by_hand():
    assert h.rate([True, False, False, True]) == (0.5, 0.25)
    assert h.rate(np.zeros(7, dtype=bool)) == (0.0, 0.0)


def test_auc_of_a_perfect_detector_is_one_with_no_error():
    labels = np.r_[np.zeros(300, bool), np.ones(40, bool)]
    scores = np.where(labels, 2.0, 1.0) + np.random.default_rng(23).random(340) * 0.5
    assert h.auc_se(scores, labels) == (1.0, 0.0)
    fpr, tpr, _ = h.roc(scores, labels)
    assert np.trapezoid(tpr, fpr) == 1.0


def test_auc_counts_ties_half_as_sklearn_does():
    rng = np.random.default_rng(24)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.standard_normal(500) + labels, 0)  # many ties
    auc = h.auc_se(scores, labels).value
    assert auc == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)
    fpr, tpr, _ = h.roc(scores, labels)
    assert auc == pytest.approx(np.trapezoid(tpr, fpr), rel=1e-12)
    assert h.auc_se([1.0, 1.0], [True, False]).value == 0.5


def test_random_scores_have_auc_one_half_within_4_se():
    rng = np.random.default_rng(25)
    labels = np.r_[np.zeros(2000, bool), np.ones(500, bool)]
    got = h.auc_se(rng.random(2500), labels)
    assert abs(got.value - 0.5) < 4 * got.se
    assert got.se == pytest.approx(np.sqrt((1 / 2000 + 1 / 500) / 12), rel=0.01)  # Mann-Whitney's null SE


def test_hanley_mcneil_se_agrees_with_a_stratified_bootstrap():
    """Binormal scores (separation 1, AUC ~0.76), 200 hallucinations, 800 in
    support; 2000 bootstrap resamples of each class (the bootstrap SE itself
    is good to ~1/sqrt(2 * 2000) = 1.6%): the two SEs within 20%."""
    rng = np.random.default_rng(26)
    pos, neg = rng.standard_normal(200) + 1.0, rng.standard_normal(800)
    labels = np.r_[np.ones(200, bool), np.zeros(800, bool)]
    got = h.auc_se(np.r_[pos, neg], labels)
    boot = [h.auc_se(np.r_[rng.choice(pos, 200), rng.choice(neg, 800)], labels).value for _ in range(2000)]
    assert got.se == pytest.approx(np.std(boot), rel=0.2), (got.se, np.std(boot))


def test_removed_at_kept_by_hand():
    # in support 0..99: the 0.96 quantile is 95.04, so 96 of 100 (0..95) are kept
    scores = np.r_[np.arange(100.0), [10.0, 95.5, 96.0, 200.0, 50.0]]
    labels = np.r_[np.zeros(100, bool), np.ones(5, bool)]
    got = h.removed_at_kept(scores, labels, 0.96)
    assert got.value == 0.6  # 95.5, 96 and 200 are above the threshold
    assert got.se == pytest.approx(np.sqrt(0.6 * 0.4 / 5), rel=1e-15)
    assert h.removed_at_kept(scores, labels, 1.0).value == 0.2  # only 200 is above 99
    with pytest.raises(ValueError, match="both"):
        h.removed_at_kept(scores[:100], labels[:100])
