"""A sampler run's scores: the distances of ``metrics``, plus what only the
sampler's code can say (the exact output law on Gaussian data,
``laws.gaussian_law``). ``jobs.sample`` puts them in table rows."""

from __future__ import annotations

import numpy as np
import scipy  # scipy.stats (0.4 s to import) loads on first use: only 1-D scores need it

from .data import GaussianMixture
from .grids import KARRAS_T_MIN
from .laws import gaussian_law
from .metrics import score


def gaussian_ks(m1, s1, m2, s2, n=200_001):
    """KS distance between two normal laws: sup |F1 - F2| on a fine grid."""
    x = np.linspace(min(m1 - 10 * s1, m2 - 10 * s2), max(m1 + 10 * s1, m2 + 10 * s2), n)
    return float(np.abs(scipy.stats.norm.cdf(x, m1, s1) - scipy.stats.norm.cdf(x, m2, s2)).max())


def gaussian_w1(m1, s1, m2, s2, n=200_000):
    """Wasserstein-1 between two normal laws: the mean gap of their quantile functions."""
    z = scipy.stats.norm.ppf((np.arange(n) + 0.5) / n)
    return float(np.mean(np.abs(m1 - m2 + (s1 - s2) * z)))


def exact_gaussian_score(dist, x, process, label, steps, t_min=KARRAS_T_MIN):
    """For 1-D Gaussian data the sampler's output law is exactly N(mean, std^2)
    (docs/theory.md section 6): its moments, its KS and W1 distances to the data law
    (what the measured ``ks_data`` and ``w1_data`` converge to), and the KS
    distance of ``x`` to it."""
    gaussian = isinstance(dist, GaussianMixture) and len(dist.means) == 1 and dist.stds[0] > 0
    if not (gaussian and dist.dim == 1):  # a point mass (std 0) has no KS law to score against
        return {}
    m, s = dist.means[0, 0], dist.stds[0]
    mean, std = gaussian_law(m, s, process, label, steps, t_min)
    return {
        "exact_mean": mean,
        "exact_std": std,
        "exact_ks_data": gaussian_ks(mean, std, m, s),
        "exact_w1_data": gaussian_w1(mean, std, m, s),
        "ks_exact": scipy.stats.kstest(x[:, 0], scipy.stats.norm(mean, std).cdf).statistic,
    }


def evaluate(dist, x, test, process, label, steps, t_min=KARRAS_T_MIN, test_self=None, curve_threshold=None):
    """All metrics of one sampler run, as a dict metric -> value."""
    out = score(dist, x, test, test_self, curve_threshold)
    out.update(exact_gaussian_score(dist, x, process, label, steps, t_min))
    return {k: float(v) for k, v in out.items()}
