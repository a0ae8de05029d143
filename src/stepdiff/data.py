"""Data distributions and their exact denoisers (docs/theory.md section 4).

Gaussians, point masses and finite point sets are all Gaussian mixtures
(a point mass is a component of zero width), so one class gives every
analytic denoiser. The Swiss roll and the spiral are laws on a curve
(``curve.Curve``), whose exact denoiser is an integral over the curve's angle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .curve import Curve


@dataclass(frozen=True)
class GaussianMixture:
    """``sum_i w_i N(a_i, s_i^2 I)`` with ``means`` (k, d), ``stds`` and ``weights`` (k,)."""

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        means = np.atleast_2d(np.asarray(self.means, dtype=float))
        k = len(means)
        stds = np.broadcast_to(np.asarray(self.stds, dtype=float), (k,)).copy()
        weights = np.broadcast_to(np.asarray(self.weights, dtype=float), (k,))
        if np.any(stds < 0) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("stds and weights must be non-negative, weights not all zero")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds)
        object.__setattr__(self, "weights", weights / weights.sum())

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim))
        return self.means[comp] + self.stds[comp, None] * noise

    def cdf(self, x) -> np.ndarray:
        """The CDF of a 1-D mixture at ``x`` (any shape); point masses (std 0)
        give steps, right-continuous. scipy is imported here: figures and
        scores of 1-D runs alone need it."""
        from scipy.special import ndtr

        if self.dim != 1:
            raise ValueError(f"cdf: a 1-D law needed, this one is {self.dim}-D")
        a, s = self.means[:, 0], self.stds
        x = np.asarray(x, dtype=float)[..., None]
        z = np.where(s > 0, (x - a) / np.where(s > 0, s, 1), np.where(x >= a, np.inf, -np.inf))
        return (self.weights * ndtr(z)).sum(-1)

    def posterior_mean(self, x: np.ndarray, sigma_t: float, alpha_t: float = 1.0) -> np.ndarray:
        """``E[x0 | alpha_t x0 + sigma_t * eps = x]`` for a batch ``x`` of shape (n, d).

        ``alpha_t = 1`` is the tutorial's diffusion; the linear flow from a
        Gaussian source has ``alpha_t = 1 - t`` (docs/theory.md section 8), and its
        ``t = 1`` (``alpha_t = 0``) gives ``E[x0]`` without dividing by zero.
        Component posteriors come from a log-sum-exp softmax: at small
        ``sigma_t`` the raw densities underflow to 0/0 far from every mean.
        """
        var = (alpha_t * self.stds) ** 2 + sigma_t**2  # (k,)
        a = alpha_t * self.means  # component means of x
        shrink = alpha_t * self.stds**2 / var  # component-wise Gaussian denoiser
        if len(a) == 1:  # one component: the posterior weight is exactly 1
            return self.means[0] + shrink[0] * (x - a[0])
        # log w_i N(x; a_i, var_i I) up to a per-row constant, built in place:
        # (n, k) temporaries dominate the cost for fine mixtures. Expanding
        # |x - a|^2 cancels catastrophically far from the origin, so expand
        # around the means' centre c: |x - c| and |a - c| are the data's scale.
        c = a.mean(0)
        xc, ac = x - c, a - c
        logits = xc @ (ac / var[:, None]).T
        logits += np.log(self.weights) - (ac**2).sum(1) / (2 * var) - 0.5 * self.dim * np.log(var)
        if np.ptp(var) > 0:  # |x|^2 / (2 var_i) is a per-row constant only when var is shared
            logits -= (xc**2).sum(1)[:, None] / (2 * var)
        logits -= logits.max(axis=1, keepdims=True)
        pi = np.exp(logits, out=logits)
        pi /= pi.sum(axis=1, keepdims=True)
        # E[x0 | x, i] = m_i + shrink_i (x - alpha m_i)
        return pi @ (self.means - shrink[:, None] * a) + (pi @ shrink)[:, None] * x


def gaussian(mean, std) -> GaussianMixture:
    return GaussianMixture(np.atleast_1d(np.asarray(mean, dtype=float))[None, :], std, 1.0)


def point_masses(points, weights=None) -> GaussianMixture:
    points = np.asarray(points, dtype=float)
    return GaussianMixture(points, 0.0, np.ones(len(points)) if weights is None else weights)


class OnCurve:
    """A law spread uniformly in the angle of a ``curve`` and blurred by
    ``N(0, noise_std^2 I)``: its exact denoiser and the distance to its curve."""

    dim = 2

    def posterior_mean(self, x, sigma_t, alpha_t=1.0):
        return self.curve.posterior_mean(x, sigma_t, alpha_t, self.noise_std)

    def distance(self, x) -> np.ndarray:
        """Each row's distance to the curve (the support when ``noise_std`` is 0)."""
        return self.curve.distance(x)


def on_curve(dist) -> bool:
    """A law spread on a curve without blur: its support is the curve, and a
    sample's distance to it says how far the sample is from the data."""
    return isinstance(dist, OnCurve) and dist.noise_std == 0


@dataclass(frozen=True)
class SwissRoll(OnCurve):
    """scikit-learn's Swiss roll, coordinates (x, z), scaled by ``scale``.

    ``make_swiss_roll`` draws the angle ``u ~ U(1.5 pi, 4.5 pi)`` and the point
    ``(u cos u, u sin u)`` plus isotropic noise, so the exact data law is a
    uniform-in-angle curve blurred by ``N(0, (noise*scale)^2)``.
    """

    scale: float
    noise: float = 0.0

    @cached_property
    def curve(self) -> Curve:
        return Curve(self.scale, 1.5 * np.pi, 4.5 * np.pi)

    @property
    def noise_std(self) -> float:
        return self.noise * self.scale

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.datasets import make_swiss_roll  # slow import, only needed here

        seed = int(rng.integers(2**31 - 1))
        x = make_swiss_roll(n_samples=n, noise=self.noise, random_state=seed)[0]
        return x[:, [0, 2]] * self.scale


@dataclass(frozen=True)
class Spiral(OnCurve):
    """The study's flow target: angle ``u ~ U(0, turns * 2 pi)``, radius
    ``u / (2 pi)``, the point ``(r cos u, r sin u)`` plus ``N(0, noise^2 I)``."""

    turns: float
    noise: float

    @cached_property
    def curve(self) -> Curve:
        return Curve(1 / (2 * np.pi), 0.0, self.turns * 2 * np.pi)

    @property
    def noise_std(self) -> float:
        return self.noise

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.uniform(0, self.turns * 2 * np.pi, n)
        r = u / (2 * np.pi)
        return np.column_stack([r * np.cos(u), r * np.sin(u)]) + self.noise * rng.standard_normal((n, 2))


# Each config ``data.kind`` and how its section builds the law. What the
# workflow needs to know of a kind follows from the law itself: its ``dim``,
# and whether it has an exact denoiser (a ``posterior_mean``).
KINDS = {
    "gaussian": lambda d: gaussian(d["mean"], d["std"]),
    "point_masses": lambda d: point_masses(d["points"], d.get("weights")),
    "gaussian_mixture": lambda d: GaussianMixture(d["means"], d["stds"], d.get("weights", 1.0)),
    "swiss_roll": lambda d: SwissRoll(scale=d["scale"], noise=d["noise"]),
    "spiral": lambda d: Spiral(turns=d["turns"], noise=d["noise"]),
}


def from_config(data: dict):
    """The distribution described by an experiment's ``data`` section."""
    if data["kind"] not in KINDS:
        raise ValueError(f"data.kind: unknown kind {data['kind']!r}; one of {list(KINDS)}")
    return KINDS[data["kind"]](data)
