"""Sample-quality metrics (docs/theory.md section 7), their standard errors and noise floors.

Each distance is reported next to its noise floor: the same metric between
two independent draws of the true distribution of the same size.
"""

from __future__ import annotations

import numpy as np
import scipy  # scipy.stats (0.4 s to import) loads on first use: only 1-D scores need it
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from .data import GaussianMixture, on_curve

MASS_TOL = 1e-3  # a sample "is at" a point mass within this distance


def _row_mean_distances(a, b, distinct, max_block=2_000_000):
    """Mean Euclidean distance from each row of ``a`` to the rows of ``b`` and
    from each row of ``b`` to those of ``a`` (to the others, when ``b`` is ``a``:
    ``distinct``), in row blocks so memory stays O(n)."""
    rows = max(1, max_block // len(b))
    a_sums, b_sums = [], np.zeros(len(b))
    for i in range(0, len(a), rows):
        block = cdist(a[i : i + rows], b)
        a_sums.append(block.sum(1))
        b_sums += block.sum(0)
    pairs = len(b) - 1 if distinct else len(b)
    return np.concatenate(a_sums) / pairs, b_sums / (len(a) - 1 if distinct else len(a))


def self_distances(y):
    """Row means of ``y``'s distances to its other rows: the part of
    :func:`energy_distance_se` that depends on the held-out set alone."""
    return _row_mean_distances(np.atleast_2d(y), np.atleast_2d(y), True)[0]


def energy_distance_se(x, y, yy=None):
    """``2E|X-Y| - E|X-X'| - E|Y-Y'|`` (within-sample means over distinct pairs:
    the unbiased U-statistic, which can dip just below 0) and its standard error.

    The error is the U-statistic's first-order (Hoeffding) term,
    ``sqrt(Var g(X) / n + Var h(Y) / m)`` with ``g(x) = 2 E|x - Y| - 2 E|x - X'|``
    and ``h(y) = 2 E|X - y| - 2 E|y - Y'|``, estimated from the same row means
    as the statistic. It grows with the distance between the laws and vanishes
    when they are equal (the estimator is then degenerate, of order 1/n): so a
    noise floor from two true draws does not measure it. ``yy``: the
    :func:`self_distances` of ``y``, when several samples meet one ``y``.
    """
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    xy, yx = _row_mean_distances(x, y, False)
    xx = _row_mean_distances(x, x, True)[0]
    yy = self_distances(y) if yy is None else yy
    value = 2 * xy.mean() - xx.mean() - yy.mean()
    se = np.sqrt(np.var(2 * xy - 2 * xx, ddof=1) / len(x) + np.var(2 * yx - 2 * yy, ddof=1) / len(y))
    return float(value), float(se)


def energy_gap(x, y, ref) -> tuple[float, float]:
    """``ED(x, ref) - ED(y, ref)`` and its standard error, for ``x`` and ``y``
    paired row by row (one start each) and ``ref`` drawn independently of
    both. With ``ref`` a draw of ``y``'s law it estimates, without bias, the
    energy distance between the laws of ``x`` and ``y``; ``ref``'s own term
    cancels, and the first-order (Hoeffding) terms of the difference are
    taken per pair, so what ``x`` and ``y`` share does not count as noise."""
    x_ref, ref_x = _row_mean_distances(x, ref, False)
    y_ref, ref_y = _row_mean_distances(y, ref, False)
    xx = _row_mean_distances(x, x, True)[0]
    yy = _row_mean_distances(y, y, True)[0]
    value = 2 * x_ref.mean() - xx.mean() - 2 * y_ref.mean() + yy.mean()
    pair = 2 * (x_ref - xx) - 2 * (y_ref - yy)
    se = np.sqrt(np.var(pair, ddof=1) / len(x) + np.var(2 * (ref_x - ref_y), ddof=1) / len(ref))
    return float(value), float(se)


def energy_distance(x, y):
    """The energy distance alone (see :func:`energy_distance_se`)."""
    return energy_distance_se(x, y)[0]


def sliced_wasserstein2(x, y, n_directions=256, seed=0):
    """Sliced W2 over random unit directions (sort-based, O(n log n)).

    Sizes may differ: both empirical quantile functions are read at the
    levels ``(i + 1/2) / k``, ``k = max(n, m)``.
    """
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((x.shape[1], n_directions))
    dirs /= np.linalg.norm(dirs, axis=0)
    k = max(len(x), len(y))
    levels = (np.arange(k) + 0.5) / k

    def quantiles(z):
        proj = np.sort(z @ dirs, axis=0)
        return proj[np.minimum((levels * len(z)).astype(int), len(z) - 1)]

    return float(np.sqrt(np.mean((quantiles(x) - quantiles(y)) ** 2)))


def sliced_wasserstein2_se(x, y, groups=5):
    """:func:`sliced_wasserstein2` and its standard error, from ``groups``
    disjoint parts of both sets: the spread of the part estimates of SW2^2
    over sqrt(groups), carried to SW2 by the delta method (SW2^2's noise is
    additive, its bias is not, so the spread is taken before the root).
    Checked against redraws in tests/test_metrics.py: right at a distance,
    conservative (too large) near the noise floor."""
    value = sliced_wasserstein2(x, y)
    squares = [sliced_wasserstein2(x[i::groups], y[i::groups]) ** 2 for i in range(groups)]
    se = np.std(squares, ddof=1) / np.sqrt(groups) / (2 * value) if value > 0 else 0.0
    return value, float(se)


def paired_distance(x, y):
    """Median distance between row ``i`` of ``x`` and row ``i`` of ``y`` (same
    starts), over the rows both have."""
    n = min(len(x), len(y))
    return float(np.median(np.linalg.norm(x[:n] - y[:n], axis=1)))


def nn_median(x, ref):
    """Median distance from each sample to its nearest reference point."""
    return nn_median_se(x, ref)[0]


def quantile_se(d, q: float) -> tuple[float, float]:
    """The ``q`` quantile of the values ``d`` and its distribution-free
    standard error: half the gap between the quantiles one binomial standard
    deviation (``sqrt(q (1 - q) / n)``) either side of ``q``, interpolated
    (whole ranks, as :func:`nn_median_se` takes, overstate it by about 15% at
    the 99th percentile of 2000 values)."""
    d = np.asarray(d, dtype=float)
    step = np.sqrt(q * (1 - q) / len(d))
    lo, hi = np.quantile(d, [max(q - step, 0.0), min(q + step, 1.0)])
    return float(np.quantile(d, q)), float((hi - lo) / 2)


def nn_median_se(x, ref):
    """:func:`nn_median` and its standard error: half the gap between the
    order statistics one binomial standard deviation (sqrt(n) / 2 ranks) either
    side of the median, the distribution-free error of a median. It holds
    the reference set fixed; redraws of both sets spread about 15% more at
    large distances (tests/test_metrics.py)."""
    d = np.sort(cKDTree(ref).query(x)[0])
    n, half = len(d), np.sqrt(len(d)) / 2
    lo, hi = max(0, int(np.floor(n / 2 - half))), min(n - 1, int(np.ceil(n / 2 + half)))
    return float(np.median(d)), float((d[hi] - d[lo]) / 2)


CURVE_METRICS = ("curve_median", "curve_p99", "curve_far")


def curve_scores(distance, threshold: float) -> dict:
    """Distances of samples to the curve their law lives on (``distance``,
    one per sample, exact: docs/theory.md section 12): the median and the 99th
    percentile, each with its order-statistic error, and the fraction beyond
    ``threshold`` with its binomial error. A finite draw of the data cannot
    see a few percent of samples between the roll's arms, or a blur 20 times
    the floor; the curve itself can."""
    median, median_se = quantile_se(distance, 0.5)
    p99, p99_se = quantile_se(distance, 0.99)
    far = float(np.mean(np.asarray(distance) > threshold))
    return {
        "curve_median": median,
        "curve_median_se": median_se,
        "curve_p99": p99,
        "curve_p99_se": p99_se,
        "curve_far": far,
        "curve_far_se": float(np.sqrt(far * (1 - far) / len(distance))),
    }


def is_point_masses(dist) -> bool:
    return isinstance(dist, GaussianMixture) and not np.any(dist.stds > 0)


def score(dist, x, test, test_self=None, curve_threshold=None):
    """Distances of a sample ``x`` (n, d) from the true law ``dist`` and its
    held-out draw ``test`` (``test_self``: its :func:`self_distances`, if
    known): a dict metric -> value. For a law on a curve, with
    ``curve_threshold``, also the distances to the curve (:func:`curve_scores`)."""
    if is_point_masses(dist):
        d = cdist(x, dist.means)
        out = {"max_dist": d.min(1).max(), "median_dist": float(np.median(d.min(1)))}
        for i in range(len(dist.means)):
            out[f"frac_at_mass_{i}"] = float(np.mean(d[:, i] < MASS_TOL))
        return out
    if x.shape[1] == 1:
        std, n = float(x.std(ddof=1)), len(x)
        return {
            "mean": float(x.mean()),
            "mean_se": std / np.sqrt(n),
            "std": std,
            "std_se": std / np.sqrt(2 * (n - 1)),  # exact for Gaussian samples, as exp0's are
            # ks_data and w1_data: judged against their noise floor (the KS
            # statistic's null law is known: 1.63 / sqrt(n) at 1%)
            "ks_data": scipy.stats.kstest(x[:, 0], dist.cdf).statistic,
            "w1_data": scipy.stats.wasserstein_distance(x[:, 0], test[:, 0]),
        }
    out = {
        **dict(zip(("energy", "energy_se"), energy_distance_se(x, test, test_self))),
        **dict(zip(("sw2", "sw2_se"), sliced_wasserstein2_se(x, test))),
        **dict(zip(("nn_median", "nn_median_se"), nn_median_se(x, test))),
    }
    if curve_threshold is not None and on_curve(dist):
        out.update(curve_scores(dist.distance(x), curve_threshold))
    return out


# Metrics whose noise floor is another metric's (the KS statistic of a
# true-law sample has the same null distribution whatever the law).
FLOOR_ALIAS = {"ks_exact": "ks_data"}


def noise_floor(dist, fresh, test):
    """The distance metrics between two independent draws of the true law."""
    if is_point_masses(dist):
        return {}
    floor = score(dist, fresh, test)
    for k in ("mean", "std", "mean_se", "std_se", "energy_se", "sw2_se", "nn_median_se"):
        floor.pop(k, None)
    for alias, source in FLOOR_ALIAS.items():
        if source in floor:
            floor[alias] = floor[source]
    return {k: float(v) for k, v in floor.items()}
