"""Data distributions and their exact denoisers (MATH.md section 4).

Gaussians, point masses and finite point sets are all Gaussian mixtures
(a point mass is a component of zero width), so one class gives every
analytic denoiser. The Swiss roll's exact denoiser is the mixture on a fine
grid of points along its curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import job_seed


def rng_for(seed: int, *keys) -> np.random.Generator:
    """The generator of one job: config seed plus the job's wildcards."""
    return np.random.default_rng(job_seed(seed, *keys))


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

    def posterior_mean(self, x: np.ndarray, sigma_t: float) -> np.ndarray:
        """``E[x0 | x0 + sigma_t * eps = x]`` for a batch ``x`` of shape (n, d).

        Component posteriors come from a log-sum-exp softmax: at small
        ``sigma_t`` the raw densities underflow to 0/0 far from every mean.
        """
        var = self.stds**2 + sigma_t**2  # (k,)
        a = self.means
        if len(a) == 1:  # one component: the posterior weight is exactly 1
            shrink = self.stds[0] ** 2 / var[0]
            return a[0] + shrink * (x - a[0])
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
        shrink = self.stds**2 / var  # component-wise Gaussian denoiser
        return pi @ (a * (1 - shrink)[:, None]) + (pi @ shrink)[:, None] * x

    def denoiser(self, sigma: float):
        """``D(x, t) = E[x0 | x_t = x]`` for the forward process of scale ``sigma``."""
        return lambda x, t: self.posterior_mean(x, sigma * np.sqrt(t))


def gaussian(mean, std) -> GaussianMixture:
    return GaussianMixture(np.atleast_1d(np.asarray(mean, dtype=float))[None, :], std, 1.0)


def point_masses(points, weights=None) -> GaussianMixture:
    points = np.asarray(points, dtype=float)
    return GaussianMixture(points, 0.0, np.ones(len(points)) if weights is None else weights)


@dataclass(frozen=True)
class SwissRoll:
    """scikit-learn's Swiss roll, coordinates (x, z), scaled by ``scale``.

    ``make_swiss_roll`` draws the angle ``u ~ U(1.5 pi, 4.5 pi)`` and the point
    ``(u cos u, u sin u)`` plus isotropic noise, so the exact data law is a
    uniform-in-angle curve blurred by ``N(0, (noise*scale)^2)``.
    """

    scale: float
    noise: float = 0.0
    # Grid of the exact denoiser. At scale 0.07 the curve is 6.2 long, so the
    # spacing is 0.006: five times below sigma_t = 0.032 at t = 1e-3 (sigma = 1),
    # where a Gaussian-smoothed lattice is indistinguishable from the curve.
    n_points: int = 1000

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.datasets import make_swiss_roll  # slow import, only needed here

        seed = int(rng.integers(2**31 - 1))
        x = make_swiss_roll(n_samples=n, noise=self.noise, random_state=seed)[0]
        return x[:, [0, 2]] * self.scale

    def exact(self) -> GaussianMixture:
        """The data law on a grid of angle quantiles: a fine Gaussian mixture."""
        u = 1.5 * np.pi * (1 + 2 * (np.arange(self.n_points) + 0.5) / self.n_points)
        curve = np.stack([u * np.cos(u), u * np.sin(u)], axis=1) * self.scale
        return GaussianMixture(curve, self.noise * self.scale, 1.0)

    def denoiser(self, sigma: float):
        return self.exact().denoiser(sigma)


def from_config(data: dict):
    """The distribution described by an experiment's ``data`` section."""
    kind = data["kind"]
    if kind == "gaussian":
        return gaussian(data["mean"], data["std"])
    if kind == "point_masses":
        return point_masses(data["points"], data.get("weights"))
    if kind == "swiss_roll":
        return SwissRoll(scale=data["scale"], noise=data["noise"])
    raise ValueError(f"data.kind: unknown kind {kind!r}")
