"""Straight paths, couplings and W2 references (docs/theory.md sections 19 and 20)
against exact oracles: a flow to one point is straight; the independent
flow between two unit Gaussians has a closed-form path, map and straightness;
the exact assignment is checked by hand and by brute force."""

import itertools

import numpy as np
import pytest

from stepdiff import data, grids, laws, process, transport
from stepdiff.metrics import quantile_se

FLOW = process.LinearFlow(1.0)  # source N(0, I)
CURVED = 2 - np.pi / 2  # int_{-1}^{1} u^2 / (1 + u^2) du: S per dimension of N(0, I) -> N(m, I)


def gaussian_path(m, n, steps, seed=0):
    """The exact-denoiser path of N(0, I_d) -> N(m, I_d) on a uniform grid, and its starts."""
    m = np.asarray(m, dtype=float)
    z = np.random.default_rng(seed).standard_normal((n, len(m)))
    denoiser = process.exact_denoiser(FLOW, data.gaussian(m, 1.0))
    return transport.flow_path(denoiser, FLOW, z, grids.times(steps)), z


def test_a_flow_to_one_point_is_straight():
    """Data a single point a: D = a, the path is z + tau (a - z), exactly
    straight at constant speed; Heun integrates it exactly, so S is 0 to
    rounding and PE equals the transport cost |a - z|^2."""
    a = np.array([1.0, -2.0])
    denoiser = process.exact_denoiser(FLOW, data.point_masses([a]))
    z = np.random.default_rng(1).standard_normal((500, 2))
    path = transport.flow_path(denoiser, FLOW, z, grids.times(16))
    np.testing.assert_allclose(path.x[-1], np.broadcast_to(a, z.shape), atol=1e-14)
    np.testing.assert_allclose(path.v, np.broadcast_to(a - z, path.v.shape), atol=1e-12)
    assert np.max(transport.straightness(path)) < 1e-24
    np.testing.assert_allclose(transport.path_energy(path), transport.transport_cost(path), rtol=1e-13)
    np.testing.assert_allclose(transport.transport_cost(path), ((a - z) ** 2).sum(1), rtol=1e-13)


def test_the_path_follows_the_closed_form_gaussian_flow_map():
    """Nodes against ``laws.gaussian_flow_map`` (shares no code with the
    steps): the gap is Heun's discretisation error, O(h^2), falling ~4x on
    halving the step."""
    m = np.array([1.5])
    gaps = []
    for steps in (16, 32):
        path, z = gaussian_path(m, 200, steps)
        exact = np.stack([laws.gaussian_flow_map(FLOW, m, 1.0, z, 1 - tau) for tau in path.tau])
        gaps.append(np.abs(path.x - exact).max())
    assert gaps[1] < 1e-2 and 3 < gaps[0] / gaps[1] < 5


@pytest.mark.parametrize("d", [1, 2])
def test_the_independent_gaussian_flow_has_straightness_d_times_2_minus_pi_over_2(d):
    """N(0, I_d) -> N(m, I_d), independent coupling: S = d (2 - pi/2) = 0.4292 d.

    Tolerance: 4 standard errors of the per-start integrand over n = 20 000
    starts (about 0.017 for d = 1, 0.024 for d = 2) plus the quadrature and
    ODE error, measured as twice the change on halving the step (64 -> 128
    steps: about 3e-4 d). The path is Z = tau m + r(tau) z with
    r = sqrt(tau^2 + (1 - tau)^2), so per start the integrand is exactly
    (2 - pi/2) |z|^2: that deterministic oracle is held, start by start, to
    the discretisation error measured the same way."""
    m = np.array([1.5, -0.5][:d])
    coarse, z = gaussian_path(m, 20_000, 64)
    fine, _ = gaussian_path(m, 20_000, 128)
    s_coarse = transport.mean_se(transport.straightness(coarse))[0]
    s, se = transport.mean_se(transport.straightness(fine))
    quadrature = 2 * abs(s - s_coarse)
    assert quadrature < 1e-3 * d
    assert abs(s - CURVED * d) < 4 * se + quadrature
    per_start = transport.straightness(fine)
    halving = 2 * np.abs(per_start - transport.straightness(coarse))
    assert np.all(np.abs(per_start - CURVED * (z**2).sum(1)) <= halving + 1e-12)


@pytest.mark.parametrize("d", [1, 2])
def test_the_independent_gaussian_flow_map_is_the_optimal_translation(d):
    """Its end-to-end map is z -> z + m: transport cost |m|^2 = W2^2 (the
    closed form gives it too), so the excess cost is 0 and PE - W2^2 = S.
    The cost has no sampling spread here (every start moves by m): the
    tolerance is the ODE error alone, |Z_1 - Z_0 - m| < 1e-3 at 64 steps."""
    m = np.array([1.5, -0.5][:d])
    path, z = gaussian_path(m, 2000, 64)
    w2sq = transport.gaussian_w2_squared(np.zeros(d), 1.0, m, 1.0)
    assert w2sq == pytest.approx(m @ m, abs=1e-12)
    assert np.abs(path.x[-1] - (z + m)).max() < 1e-3
    scores = transport.path_scores(path)
    assert scores["transport_cost"] == pytest.approx(w2sq, abs=2e-3 * np.sqrt(m @ m))
    assert scores["path_energy"] - w2sq == pytest.approx(scores["straightness"], abs=1e-2)


def test_path_energy_is_straightness_plus_transport_cost_up_to_the_discretisation():
    """PE = S + TC for the continuous path. On the nodes the defect is
    2 (Z_1 - Z_0) . (trapezoid of v - (Z_1 - Z_0)): measured tiny (below
    1e-6 at 32 steps) and shrinking at least 4x per halving."""
    defects = []
    for steps in (16, 32, 64):
        path, _ = gaussian_path([1.5, -0.5], 2000, steps)
        scores = transport.path_scores(path)
        defect = scores["path_energy"] - scores["straightness"] - scores["transport_cost"]
        assert defect == pytest.approx(scores["identity_defect"], abs=1e-12)
        defects.append(abs(defect))
    assert defects[1] < 1e-6
    assert defects[0] / defects[1] > 4 and defects[1] / defects[2] > 4


def test_flow_path_checks_its_grid_and_process():
    denoiser = process.exact_denoiser(FLOW, data.gaussian([0.0], 1.0))
    with pytest.raises(ValueError, match="decreasing"):
        transport.flow_path(denoiser, FLOW, np.zeros((2, 1)), [1.0, 0.5])
    with pytest.raises(ValueError, match="linear flow"):
        transport.flow_path(denoiser, process.Diffusion(1.0), np.zeros((2, 1)), [1.0, 0.0])


# -------------------------------------------------------------------- W2 references


def test_gaussian_w2_closed_form():
    """1-D: (m1 - m2)^2 + (s1 - s2)^2; commuting diagonals: sum (sqrt(a) -
    sqrt(b))^2; a non-commuting pair C2 = A C1 A with A symmetric positive
    definite, whose optimal map is x -> A x: cost tr((I - A) C1 (I - A))."""
    assert transport.gaussian_w2_squared(1.0, 4.0, -2.0, 0.25) == pytest.approx(9 + 1.5**2, rel=1e-12)
    a, b = np.array([1.0, 4.0, 0.5]), np.array([9.0, 1.0, 0.5])
    expected = 1.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = transport.gaussian_w2_squared([0, 0, 0], a, [1, 0, 0], np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)
    c1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    amap = np.array([[1.5, -0.4], [-0.4, 0.8]])
    c2 = amap @ c1 @ amap
    cost = np.trace((np.eye(2) - amap) @ c1 @ (np.eye(2) - amap))
    assert transport.gaussian_w2_squared([0, 0], c1, [0, 0], c2) == pytest.approx(cost, rel=1e-10)
    assert transport.gaussian_w2_squared([0, 0], c2, [0, 0], c1) == pytest.approx(cost, rel=1e-10)


def test_w2_1d_is_the_exact_assignment_in_one_dimension():
    """Sorting is optimal on a line, so the two agree to rounding."""
    rng = np.random.default_rng(2)
    for n in (1, 7, 300):
        x, y = rng.standard_normal(n), 2 * rng.standard_exponential(n)
        expected = transport.w2_assignment(x[:, None], y[:, None])
        assert transport.w2_1d(x, y) == pytest.approx(expected, rel=1e-12)


def test_w2_assignment_of_a_translated_sample_is_the_shift():
    """y = x + m: any permutation p costs sum |x_i - x_p(i)|^2 + n |m|^2
    (the cross term sums to 0), so the identity is optimal and W2 = |m|."""
    x = np.random.default_rng(3).standard_normal((200, 2))
    m = np.array([0.3, -0.4])
    assert transport.w2_assignment(x, x[::-1] + m) == pytest.approx(0.5, rel=1e-12)


# ------------------------------------------------------------------------ couplings


def cost(x0, x1):
    return float(np.sum((x0 - x1) ** 2))


def test_minibatch_ot_pairs_points_on_a_line_in_order():
    x0 = np.array([[0.0], [1.0], [2.0]])
    x1 = np.array([[2.1], [0.1], [1.1]])
    a, b = transport.minibatch_ot(x0, x1)
    np.testing.assert_array_equal(a, x0)
    np.testing.assert_array_equal(b, [[0.1], [1.1], [2.1]])


def test_minibatch_ot_swaps_a_crossing_pair():
    """(0,0)->(1,1), (1,0)->(0,1) cross and cost 4; swapped they cost 2."""
    x0 = np.array([[0.0, 0.0], [1.0, 0.0]])
    x1 = np.array([[1.0, 1.0], [0.0, 1.0]])
    a, b = transport.minibatch_ot(x0, x1)
    np.testing.assert_array_equal(b, [[0.0, 1.0], [1.0, 1.0]])
    assert cost(a, b) == 2.0 < cost(*transport.independent(x0, x1)) == 4.0


def test_minibatch_ot_is_the_brute_force_optimum_and_never_worse_than_independent():
    rng = np.random.default_rng(4)
    for _ in range(5):  # every permutation of 6 points: 720 pairings
        x0, x1 = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)) + 1
        best = min(cost(x0, x1[list(p)]) for p in itertools.permutations(range(6)))
        assert cost(*transport.minibatch_ot(x0, x1)) == pytest.approx(best, rel=1e-12)
    for n in (2, 16, 256):
        x0, x1 = rng.standard_normal((n, 2)), 3 * rng.standard_normal((n, 2))
        a, b = transport.minibatch_ot(x0, x1)
        assert cost(a, b) <= cost(x0, x1)
        assert sorted(map(tuple, b)) == sorted(map(tuple, x1))  # a reordering of the batch


def test_minibatch_ot_with_replacement_draws_only_optimal_pairs():
    """torchcfm's way: n pairs with replacement from the plan, each one of
    the optimal pairs; about 1 - 1/e of them distinct."""
    rng = np.random.default_rng(5)
    x0, x1 = rng.standard_normal((400, 2)), rng.standard_normal((400, 2))
    pairs = {(tuple(p), tuple(q)) for p, q in zip(*transport.minibatch_ot(x0, x1))}
    a, b = transport.minibatch_ot(x0, x1, np.random.default_rng(6))
    drawn = {(tuple(p), tuple(q)) for p, q in zip(a, b)}
    assert drawn <= pairs
    assert 0.55 < len(drawn) / 400 < 0.72  # 0.632 +- 0.024 (binomial-like, 4 sd)


# ------------------------------------------------------------------------- datasets


def test_eight_gaussians_match_torchcfm():
    """Means on the circle of radius ``scale`` at every 45 degrees, in
    torchcfm's order; coordinate std ``var ** 0.25`` (torchcfm's covariance is
    sqrt(var) I). Samples: each component's mean within 4 standard errors."""
    law = transport.eight_gaussians_law(scale=5.0, var=0.1)
    np.testing.assert_allclose(np.linalg.norm(law.means, axis=1), 5.0, rtol=1e-15)
    angles = np.sort(np.mod(np.arctan2(law.means[:, 1], law.means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, np.arange(8) * np.pi / 4, atol=1e-12)
    np.testing.assert_allclose(law.means[:4], [[5, 0], [-5, 0], [0, 5], [0, -5]], atol=1e-15)
    np.testing.assert_allclose(law.stds, 0.1**0.25)
    x = transport.eight_gaussians(4000, np.random.default_rng(7))
    assert x.shape == (4000, 2)
    nearest = np.argmin(((x[:, None] - law.means[None]) ** 2).sum(-1), axis=1)
    for k in range(8):
        rows = x[nearest == k]
        assert np.all(np.abs(rows.mean(0) - law.means[k]) < 4 * 0.1**0.25 / np.sqrt(len(rows)))


def test_moons_match_torchcfm():
    """torchdyn's moons (torchcfm's): without noise, the upper moon on the
    unit circle about (0, 0), the lower on the one about (1, 0.5), both then
    x 3 - 1; the noise is one shift U[0, 0.2) on both coordinates, so the
    range is [-4, 5.6) x [-2.5, 2.6)."""
    clean = (transport.moons(101, np.random.default_rng(8), noise=0.0) + 1) / 3
    np.testing.assert_allclose(np.linalg.norm(clean[:50], axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(clean[50:] - [1.0, 0.5], axis=1), 1.0, rtol=1e-12)
    assert np.all(clean[:50, 1] >= 0) and np.all(clean[50:, 1] <= 0.5)
    rng = np.random.default_rng(8)
    x = transport.moons(2000, rng)
    assert x.shape == (2000, 2)
    assert np.all(x >= [-4.0, -2.5]) and np.all(x < [5.6, 2.6])
    shift = (x + 1) / 3 - (transport.moons(2000, rng, noise=0.0) + 1) / 3
    np.testing.assert_allclose(shift[:, 0], shift[:, 1], atol=1e-12)
    assert 0 <= shift.min() and shift.max() < 0.2
    y = transport.moons(500, np.random.default_rng(9), kind="sklearn")
    assert y.shape == (500, 2) and np.all(np.abs(y.mean(0) - [0.5, -0.25]) < 0.3)


# ------------------------------------------------------------------ one-step maps


def test_the_error_of_a_map_against_itself_is_zero():
    phi = np.random.default_rng(10).standard_normal((300, 2))
    split = transport.split_error(phi, phi, phi)
    assert all(np.all(err == 0) for err in split.values())


def test_the_error_split_median_and_triangle():
    rng = np.random.default_rng(11)
    exact = rng.standard_normal((1000, 2))
    teacher = exact + 0.01 * rng.standard_normal((1000, 2))
    student = teacher + 0.1 * rng.standard_normal((1000, 2))
    split = transport.split_error(student, teacher, exact)
    median, se = quantile_se(split["student"], 0.5)
    # |N(0, 0.01 I_2)| is Rayleigh with median 0.1 sqrt(2 ln 2) = 0.1177
    assert abs(median - 0.1 * np.sqrt(2 * np.log(2))) < 4 * se
    np.testing.assert_array_equal(split["student"], np.linalg.norm(student - teacher, axis=1))
    assert np.all(split["total"] <= split["student"] + split["teacher"] + 1e-15)
    assert np.all(split["total"] >= np.abs(split["student"] - split["teacher"]) - 1e-15)
