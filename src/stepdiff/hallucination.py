"""Hallucinations by mode interpolation (docs/theory.md section 21), scored exactly.

Aithal, Maini, Lipton and Kolter (NeurIPS 2024) train diffusion models on
well-separated Gaussian mixtures and find samples between the modes, where
the data has (almost) no mass: hallucinations. Here the data law is known,
so a sample's label is exact (how many stds it sits from every mode), the
law's own mass in that region is exact (:func:`tail_probability`: what the
exact denoiser must reproduce, so only the excess is the sampler's, the
finite data's or the network's), and their detector (the variance of the
predicted ``x0`` over the last steps of a trajectory) is scored against the
exact labels by ROC, AUC and the fraction removed at a fixed fraction kept.

Only numpy and scipy at import (scikit-learn inside :func:`roc`): the jobs
that use this start fast.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .data import GaussianMixture

STD = 0.05  # their component std, before the whole set is scaled
TAIL_RTOL = 1e-12  # the largest relative error tail_probability accepts
AXIS, DIAGONAL = "axis", "diagonal"  # the labels of between()


def grid_2d(rotated: bool = False) -> GaussianMixture:
    """Their 2-D law: 25 equal Gaussians at ``2 (i, j)``, ``i, j`` in
    ``{-2..2}``, std 0.05, means and stds divided by ``sqrt(0.05^2 + 8)``
    (each coordinate's std, so the data has unit scale). ``rotated``: the
    same lattice turned by 45 degrees (their control; the coordinate stds
    are unchanged), so that the lattice's axes are no longer the
    coordinates'."""
    i = np.arange(-2, 3)
    means = 2.0 * np.stack(np.meshgrid(i, i, indexing="ij"), axis=-1).reshape(-1, 2)
    if rotated:
        c = s = np.sqrt(0.5)
        means = means @ np.array([[c, -s], [s, c]]).T
    scale = np.sqrt(STD**2 + 8.0)
    return GaussianMixture(means / scale, STD / scale, 1.0)


def modes_1d() -> GaussianMixture:
    """Their 1-D law: modes 1, 2 and 3, std 0.05, equal weights."""
    return GaussianMixture(np.array([[1.0], [2.0], [3.0]]), STD, 1.0)


# --- exact labels ---------------------------------------------------------


def _rows(dist, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), dist.dim) if x.ndim < 2 else x


def nearest_mode_distance(dist: GaussianMixture, x) -> np.ndarray:
    """``min_i |x - m_i| / s_i`` per row: the distance to the nearest mode in
    units of that mode's std (the Euclidean nearest when the stds are equal).
    A point mass has no std to measure in, so every std must be positive."""
    if np.any(dist.stds <= 0):
        raise ValueError("nearest_mode_distance: every component needs a positive std")
    x = _rows(dist, x)
    best = np.full(len(x), np.inf)
    for m, s in zip(dist.means, dist.stds):  # a loop over modes; each step is over all samples
        np.minimum(best, np.linalg.norm(x - m, axis=1) / s, out=best)
    return best


def distance(dist, x) -> np.ndarray:
    """How far each row is from the data: in stds of the nearest mode for a
    Gaussian mixture, else the law's own ``distance`` (the Swiss roll's
    distance to its curve, ``data.OnCurve.distance``, in data units)."""
    if isinstance(dist, GaussianMixture):
        return nearest_mode_distance(dist, x)
    return np.asarray(dist.distance(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def hallucinated(dist, x, k: float) -> np.ndarray:
    """The exact label: beyond ``k`` (stds of every mode, or data units off a
    curve) from the data. Any other distance array labels the same way: ``d > k``."""
    return distance(dist, x) > k


def tail_probability(dist: GaussianMixture, k: float) -> float:
    """``P(x is beyond k stds of every mode)`` for ``x`` drawn from ``dist``.

    With ``B_i`` the ball of radius ``k s_i`` around mode ``i``, the region
    is the complement of their union. If the balls are disjoint, a component
    ``j`` puts ``P(chi_d > k)`` outside its own ball (whatever its std) less
    what falls in the other balls, so the answer is ``P(chi_d > k)`` minus

        leak = sum_j w_j sum_{i != j} P_j(B_i)
             <= sum_j w_j sum_{i != j} Phi(-(|m_i - m_j| - k s_i) / s_j)

    (``B_i`` lies beyond that distance along the line between the modes).
    ``P(chi_d > k)`` is returned only when ``leak <= TAIL_RTOL`` of it, i.e.
    it is then exact to a relative 1e-12 (from below: the true value is
    smaller by at most ``leak``); for overlapping or close modes this raises.
    ``P(chi_2 > k) = exp(-k^2/2)``, ``P(chi_1 > k) = 2 Phi(-k)``.
    """
    from scipy.special import ndtr
    from scipy.stats import chi

    if np.any(dist.stds <= 0):
        raise ValueError("tail_probability: every component needs a positive std")
    tail = float(chi.sf(k, dist.dim))
    m, s, w = dist.means, dist.stds, dist.weights
    gap = np.linalg.norm(m[:, None] - m[None], axis=2)  # (i, j)
    other = ~np.eye(len(m), dtype=bool)
    if np.any((gap <= k * (s[:, None] + s[None]))[other]):
        raise ValueError(f"tail_probability: the balls of {k} stds around the modes overlap")
    leak = float(np.sum(w[None] * ndtr(-(gap - k * s[:, None]) / s[None]) * other))
    if leak > TAIL_RTOL * tail:
        raise ValueError(f"tail_probability: other modes hold up to {leak:.3g} of the tail {tail:.3g}")
    return tail


def _square_axes(means: np.ndarray) -> np.ndarray:
    """Unit vectors along the two axes of a square lattice of ``means`` (2-D):
    its shortest difference, and the shortest one not parallel to it."""
    diff = (means[:, None] - means[None]).reshape(-1, 2)
    length = np.linalg.norm(diff, axis=1)
    diff, length = diff[length > 0], length[length > 0]
    a1 = diff[np.argmin(length)]
    cos = np.abs(diff @ a1) / (length * np.linalg.norm(a1))
    a2 = diff[cos < 0.5][np.argmin(length[cos < 0.5])]
    n1, n2 = np.linalg.norm(a1), np.linalg.norm(a2)
    if abs(n1 - n2) > 1e-9 * n1 or abs(a1 @ a2) > 1e-9 * n1 * n2:
        raise ValueError("between: the means are not a square lattice")
    return np.stack([a1 / n1, a2 / n2])


def between(dist_or_means, x) -> np.ndarray:
    """Where each row sits between modes, in the lattice's own frame:
    ``AXIS`` when the direction from its nearest mode is within 22.5 degrees
    of a lattice axis (between axis neighbours), else ``DIAGONAL`` (towards
    the centre of a lattice cell, between diagonal neighbours).

    The direction from the nearest mode (not to the second-nearest) keeps a
    cell's centre unambiguous: four modes tie there, and every one of them
    sees it along a diagonal. On the rotated grid an interpolation along the
    coordinate axes reads as DIAGONAL: which is what the control tells apart.
    In 1-D everything is AXIS."""
    means = dist_or_means.means if isinstance(dist_or_means, GaussianMixture) else dist_or_means
    means = np.atleast_2d(np.asarray(means, dtype=np.float64))
    x = np.asarray(x, dtype=np.float64).reshape(-1, means.shape[1])
    if means.shape[1] == 1:
        return np.full(len(x), AXIS)
    if means.shape[1] != 2:
        raise ValueError(f"between: a 1-D or 2-D lattice, got {means.shape[1]}-D means")
    axes = _square_axes(means)
    best, nearest = np.full(len(x), np.inf), np.zeros(len(x), dtype=int)
    for i, m in enumerate(means):
        d = np.linalg.norm(x - m, axis=1)
        closer = d < best
        best[closer], nearest[closer] = d[closer], i
    c = np.abs((x - means[nearest]) @ axes.T)  # (n, 2): along each lattice axis
    diagonal = c.min(axis=1) > np.tan(np.pi / 8) * c.max(axis=1)
    return np.where(diagonal, DIAGONAL, AXIS)


# --- the detector: variance of the predicted x0 along a trajectory ----------


def noise_level(process, t) -> np.ndarray:
    """``sigma_t / alpha_t`` (``process.path``): the noise a denoiser sees,
    in data units, whatever the process (infinite where ``alpha_t = 0``)."""
    alpha, sigma_t = process.path(np.asarray(t, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.asarray(sigma_t / np.asarray(alpha, dtype=np.float64), dtype=np.float64)


@dataclass(frozen=True)
class LastCalls:
    """The last ``m`` denoiser calls (their code: the last 10 of 1000 DDPM steps)."""

    m: int

    def select(self, ts, process) -> np.ndarray:
        if self.m < 1:
            raise ValueError(f"window {self}: m must be >= 1")
        return np.arange(len(ts))[-self.m :]


@dataclass(frozen=True)
class NoiseLevels:
    """The calls at noise levels ``sigma_t / alpha_t`` in ``[lo, hi]`` (data
    units): the same part of the trajectory on any grid and any process."""

    lo: float
    hi: float

    def select(self, ts, process) -> np.ndarray:
        level = noise_level(process, ts)
        return np.flatnonzero((level >= self.lo) & (level <= self.hi))


class Recorder:
    """A denoiser that keeps ``(t, D(x, t))`` of its calls (and counts them,
    as ``runner.Counted``). Given a ``window`` it keeps only what that
    window can select: a whole trajectory of 1000 steps is too big to hold."""

    def __init__(self, denoiser, window=None, process=None):
        if isinstance(window, NoiseLevels) and process is None:
            raise ValueError(f"window {window}: a process is needed to read noise levels")
        self.denoiser, self.window, self.process, self.calls = denoiser, window, process, 0
        self.records = deque(maxlen=window.m) if isinstance(window, LastCalls) else []

    def __call__(self, x, t):
        out = np.asarray(self.denoiser(x, t), dtype=np.float64)
        self.calls += 1
        if not isinstance(self.window, NoiseLevels) or len(self.window.select([t], self.process)):
            self.records.append((float(t), out.copy()))
        return out


def trajectory_variance(records, process, window, ddof: int = 0) -> np.ndarray:
    """Per sample, the variance of the predicted ``x0`` over the calls in
    ``window`` (``LastCalls`` or ``NoiseLevels``), mean over dimensions:
    their detector. ``records``: ``Recorder.records``, ``(t, D)`` in call
    order. ``ddof`` only rescales the scores (same window size for all
    samples), so ROC and AUC do not depend on it. A window with fewer than
    two calls has no variance to measure: it raises, naming the window."""
    records = list(records)
    ts = np.array([t for t, _ in records], dtype=np.float64)
    idx = window.select(ts, process)
    if len(idx) < 2:
        seen = ""
        if len(ts):
            level = noise_level(process, ts)
            seen = f" (noise levels {level.min():.3g} to {level.max():.3g})"
        raise ValueError(f"window {window} holds {len(idx)} of the {len(ts)} recorded calls{seen}; needs 2")
    predictions = np.stack([records[i][1] for i in idx])  # (calls, n, d)
    return predictions.var(axis=0, ddof=ddof).mean(axis=1)


# --- scoring against the exact labels ----------------------------------------


class Estimate(NamedTuple):
    value: float
    se: float


def rate(flags) -> Estimate:
    """The fraction of ``flags`` set, with its binomial standard error
    ``sqrt(p (1 - p) / n)`` (0 when ``p`` is 0 or 1: say so with the count)."""
    flags = np.asarray(flags, dtype=bool).ravel()
    if flags.size == 0:
        raise ValueError("rate: no samples")
    p = float(flags.mean())
    return Estimate(p, float(np.sqrt(p * (1 - p) / flags.size)))


def _scored(scores, labels):
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores for {labels.size} labels")
    if labels.all() or not labels.any():
        raise ValueError("scoring needs both hallucinations (True) and in-support samples (False)")
    return scores, labels


def roc(scores, labels):
    """``(fpr, tpr, thresholds)`` of flagging a hallucination (label True)
    by a high score (``sklearn.metrics.roc_curve``)."""
    from sklearn.metrics import roc_curve  # slow import, only needed here

    scores, labels = _scored(scores, labels)
    return roc_curve(labels, scores)


def auc_se(scores, labels) -> Estimate:
    """The AUC (the probability that a hallucination outscores an in-support
    sample, ties counted half: Mann-Whitney by mid-ranks) and its standard
    error by Hanley and McNeil (1982):

        SE^2 = (A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2)) / (n1 n0),
        Q1 = A/(2-A),  Q2 = 2A^2/(1+A),

    ``n1`` hallucinations, ``n0`` in-support samples. 0 for a perfect detector."""
    from scipy.stats import rankdata

    scores, labels = _scored(scores, labels)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    a = float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
    return Estimate(a, float(np.sqrt(max(var, 0.0))))


def removed_at_kept(scores, labels, kept: float = 0.96) -> Estimate:
    """The fraction of hallucinations removed (score above the threshold)
    when the threshold is the in-support scores' ``kept`` quantile (numpy's
    linear interpolation), so that ``kept`` of them stay: their headline
    (over 95% removed at 96% kept). With its binomial standard error."""
    if not 0 < kept <= 1:
        raise ValueError(f"kept must be in (0, 1], got {kept}")
    scores, labels = _scored(scores, labels)
    threshold = np.quantile(scores[~labels], kept)
    return rate(scores[labels] > threshold)
