"""Data on a curve: the exact posterior mean of a law spread uniformly in the
angle of an Archimedean spiral, and the exact distance to that curve
(docs/theory.md section 12).

The Swiss roll and the spiral are both ``c(u) = scale (u cos u, u sin u)``
with ``u`` uniform on ``[lo, hi]``, blurred by ``N(0, noise_std^2 I)``.
Given ``x = alpha x0 + sigma_t eps``, the posterior over ``u`` has the
weight ``w(u) = exp(-|x / alpha - c(u)|^2 / (2 r^2))`` with
``r^2 = sigma_t^2 / alpha^2 + noise_std^2``, and ``E[x0 | x]`` is an
integral over ``u``. No fixed grid of nodes does: below its spacing a grid is
the ideal denoiser of its nodes, and samples copy them. So the integral is
computed by quadrature adapted to ``r``:

* ``r >= LOCAL``: a composite Gauss-Legendre rule over the whole angle
  range, panels about ``GLOBAL_WIDTH * r`` long on the curve, graded
  towards both ends (where the weight may be cut off sharply);
* ``r < LOCAL``: the weight lives near the curve points nearest ``x``: the
  local minima of ``|x/alpha - c(u)|`` on a coarse grid are refined by
  Newton's method, and each gets a window of Gauss-Legendre panels wide
  enough for the weight to fall by ``exp(-WIDTH^2)`` (by its second-order
  model of the distance) before the window ends.

Checked in tests/test_curve.py against brute force on 10^6 angles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def gauss_legendre(lo, hi, panels: int):
    """Nodes and weights of ``panels`` 8-point Gauss-Legendre panels on each
    interval ``[lo, hi]`` (arrays of any one shape; the rule is its last axis)."""
    lo, hi = np.asarray(lo, dtype=float)[..., None], np.asarray(hi, dtype=float)[..., None]
    edges = lo + (hi - lo) * np.linspace(0, 1, panels + 1)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    mid = (edges[..., 1:] + edges[..., :-1]) / 2
    u = (mid[..., None] + half[..., None] * _GL_X).reshape(*mid.shape[:-1], -1)
    w = (half[..., None] * _GL_W).reshape(*mid.shape[:-1], -1)
    return u, w


@dataclass(frozen=True)
class Curve:
    """``c(u) = scale (u cos u, u sin u)`` for ``u`` in ``[lo, hi]``."""

    scale: float
    lo: float
    hi: float

    COARSE = 256  # grid on which the nearest points are first looked for
    CANDIDATES = 4  # local minima of the distance kept per query
    NEWTON = 8  # Newton iterations from a coarse node (converges in about 4)
    LOCAL = 0.02  # kernel width below which the windowed rule is used
    WIDTH = 10.0  # window: the weight falls by exp(-WIDTH^2) at its edges
    WINDOW_PANELS = 4
    GLOBAL_WIDTH = 4.0  # panel length of the global rule, in kernel widths

    def point(self, u):
        return self.scale * np.stack([u * np.cos(u), u * np.sin(u)], -1)

    def _derivatives(self, u):
        cos, sin = np.cos(u), np.sin(u)
        p = self.scale * np.stack([u * cos, u * sin], -1)
        d1 = self.scale * np.stack([cos - u * sin, sin + u * cos], -1)
        d2 = self.scale * np.stack([-2 * sin - u * cos, 2 * cos - u * sin], -1)
        return p, d1, d2

    @cached_property
    def length(self) -> float:
        """An upper bound on the arc length: the largest speed times the angle range."""
        return self.scale * np.sqrt(1 + max(self.lo**2, self.hi**2)) * (self.hi - self.lo)

    @cached_property
    def _coarse(self):
        u = np.linspace(self.lo, self.hi, self.COARSE)
        return u, self.point(u)

    @cached_property
    def mean(self) -> np.ndarray:
        """``E[c(u)]``: the posterior mean when the observation carries no signal."""
        u, w = gauss_legendre(self.lo, self.hi, 64)
        return w @ self.point(u) / w.sum()

    def nearest(self, y):
        """Up to ``CANDIDATES`` local minima of ``|y - c(u)|`` per row of ``y``
        (n, 2): a dict of (n, J) arrays ``u``, ``dist2`` (squared distance),
        ``slope`` and ``curvature`` (first and second derivative of half the
        squared distance in ``u``) and ``found`` (False for unused slots).
        Minima at the ends of the range count (there the slope is not 0)."""
        y = np.asarray(y, dtype=float)
        uc, nodes = self._coarse
        # squared distances to the coarse nodes, expanded: only their order matters here
        d2 = (y**2).sum(1)[:, None] - 2 * y @ nodes.T + (nodes**2).sum(1)
        pad = np.full((len(y), 1), np.inf)
        is_min = (d2 <= np.hstack([pad, d2[:, :-1]])) & (d2 <= np.hstack([d2[:, 1:], pad]))
        score = np.where(is_min, d2, np.inf)
        idx = np.argpartition(score, self.CANDIDATES, axis=1)[:, : self.CANDIDATES]
        found = np.isfinite(np.take_along_axis(score, idx, 1))
        step = uc[1] - uc[0]
        u = uc[idx]
        lo, hi = np.maximum(u - step, self.lo), np.minimum(u + step, self.hi)
        yy = y[:, None, :]
        for _ in range(self.NEWTON):  # on the slope (c(u) - y) . c'(u), kept in the node's bracket
            p, d1, dd = self._derivatives(u)
            slope = ((p - yy) * d1).sum(-1)
            curv = (d1**2).sum(-1) + ((p - yy) * dd).sum(-1)
            move = np.where(curv > 0, slope / np.where(curv > 0, curv, 1), np.sign(slope) * step / 4)
            u = np.clip(u - move, lo, hi)
        p, d1, dd = self._derivatives(u)
        return {
            "u": u,
            "dist2": ((p - yy) ** 2).sum(-1),
            "slope": ((p - yy) * d1).sum(-1),
            "curvature": (d1**2).sum(-1) + ((p - yy) * dd).sum(-1),
            "speed2": (d1**2).sum(-1),
            "found": found,
        }

    def distance(self, y) -> np.ndarray:
        """The distance from each row of ``y`` to the curve."""
        near = self.nearest(y)
        return np.sqrt(np.where(near["found"], near["dist2"], np.inf).min(1))

    def _global_rule(self, r: float):
        panels = int(np.clip(np.ceil(self.length / (self.GLOBAL_WIDTH * r)), 4, 4096))
        width = (self.hi - self.lo) / panels
        graded = width * 2.0 ** -np.arange(1, 16)  # down to width / 32768 at each end
        inner = np.linspace(self.lo, self.hi, panels + 1)[1:-1]
        edges = np.unique(np.concatenate([[self.lo, self.hi], inner, self.lo + graded, self.hi - graded]))
        u, w = gauss_legendre(edges[:-1], edges[1:], 1)
        return u.ravel(), w.ravel()

    def _windows(self, y, r: float):
        """Quadrature nodes (n, m) and weights around each query's nearest
        curve points: one window per relevant local minimum, overlaps removed."""
        near = self.nearest(y)
        found, u, dist2 = near["found"], near["u"], near["dist2"]
        best = np.where(found, dist2, np.inf).min(1, keepdims=True)
        # a minimum farther than the window's drop (plus margin) carries weight below exp(-55)
        keep = found & (dist2 - best < r**2 * (self.WIDTH**2 + 10))
        curvature = np.maximum(near["curvature"], 0.05 * near["speed2"])
        drop = self.WIDTH**2 * r**2  # half the squared distance rises by this: the weight by exp(-WIDTH^2)
        slope = np.abs(near["slope"])
        half = 2 * drop / (slope + np.sqrt(slope**2 + 2 * curvature * drop))
        lo = np.where(keep, np.maximum(u - half, self.lo), u)
        hi = np.where(keep, np.minimum(u + half, self.hi), u)
        order = np.argsort(lo, axis=1)
        lo, hi = np.take_along_axis(lo, order, 1), np.take_along_axis(hi, order, 1)
        lo[:, 1:] = np.maximum(lo[:, 1:], np.maximum.accumulate(hi, 1)[:, :-1])  # no angle twice
        hi = np.maximum(hi, lo)
        nodes, weights = gauss_legendre(lo, hi, self.WINDOW_PANELS)
        return nodes.reshape(len(y), -1), weights.reshape(len(y), -1)

    def curve_mean(self, y, r: float) -> np.ndarray:
        """``E[c(u) | y]`` under the weight ``exp(-|y - c(u)|^2 / (2 r^2))``, ``u`` uniform."""
        y = np.asarray(y, dtype=float)
        if r >= self.LOCAL:
            u, w = self._global_rule(r)
            points = self.point(u)
            centre = points.mean(0)  # expand |y - c|^2 around it: both are of the data's scale
            yc, pc = y - centre, points - centre
            logits = (yc @ pc.T - 0.5 * (pc**2).sum(1)) / r**2 + np.log(w)
            logits -= logits.max(1, keepdims=True)
            pi = np.exp(logits, out=logits)
            return pi @ points / pi.sum(1, keepdims=True)
        u, w = self._windows(y, r)
        points = self.point(u)  # (n, m, 2)
        logits = -((points - y[:, None, :]) ** 2).sum(-1) / (2 * r**2)
        logits = np.where(w > 0, logits + np.log(np.where(w > 0, w, 1.0)), -np.inf)
        logits -= logits.max(1, keepdims=True)
        pi = np.exp(logits)
        return np.einsum("nm,nmd->nd", pi, points) / pi.sum(1)[:, None]

    def posterior_mean(self, x, sigma_t: float, alpha_t: float = 1.0, noise_std: float = 0.0):
        """``E[x0 | alpha_t x0 + sigma_t eps = x]`` for ``x0 = c(u) + noise_std z``:
        the curve's posterior mean, then the Gaussian shrinkage of the blur."""
        x = np.asarray(x, dtype=float)
        if alpha_t == 0:  # a flow's t = 1: x carries nothing of x0
            return np.broadcast_to(self.mean, x.shape).copy()
        var = sigma_t**2 + (alpha_t * noise_std) ** 2  # of x given u
        on_curve = self.curve_mean(x / alpha_t, np.sqrt(var) / alpha_t)
        shrink = alpha_t * noise_std**2 / var  # E[x0 | x, u] = c(u) + shrink (x - alpha c(u))
        return (1 - alpha_t * shrink) * on_curve + shrink * x
