"""Processes: how data ``x0`` becomes ``x_t``, where sampling starts, and the
ODE that deterministic samplers integrate (docs/design.md: the process seam).

Both processes here are ``x_t = alpha(t) x0 + beta(t) x1`` with ``x1`` drawn
from a source: the tutorial's diffusion (``alpha = 1``, ``beta = sqrt(t)``,
source ``N(0, sigma^2 I)``) and the linear flow (``alpha = 1 - t``,
``beta = t``, any source; docs/theory.md section 8). A model is always a denoiser
``D(x, t) = E[x0 | x_t = x]``; the probability-flow ODE of either process is

    dx / dtau = (x - D(x, t)) / tau,   tau = sigma sqrt(t) (diffusion), t (flow),

so DDIM (Euler in sigma_t) and the flow's Euler step are one step, and one
Heun step serves both. The ``path`` arithmetic works on floats, numpy arrays
and torch tensors alike, so the network's preconditioning uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Annulus:
    """A flow source: radius uniform on ``[inner, outer]``, angle uniform."""

    inner: float
    outer: float

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """One (radius, angle) pair of uniforms per row, drawn row by row: the
        first rows of a larger draw are the smaller draw (``experiment.start``
        pairs reference and learned runs by it)."""
        u = rng.random((n, 2))
        r = self.inner + (self.outer - self.inner) * u[:, 0]
        angle = 2 * np.pi * u[:, 1]
        return np.column_stack([r * np.cos(angle), r * np.sin(angle)])

    def log_density(self, x) -> np.ndarray:
        """``1 / (2 pi r (outer - inner))`` on the ring, ``-inf`` off it."""
        r = np.linalg.norm(x, axis=1)
        inside = (r >= self.inner) & (r <= self.outer)
        density = 2 * np.pi * np.maximum(r, self.inner) * (self.outer - self.inner)
        return np.where(inside, -np.log(density), -np.inf)


def gaussian_log_density(x, scale: float) -> np.ndarray:
    """``log N(x; 0, scale^2 I)`` per row."""
    d = x.shape[1]
    return -0.5 * (x**2).sum(1) / scale**2 - 0.5 * d * np.log(2 * np.pi * scale**2)


@dataclass(frozen=True)
class Diffusion:
    """The tutorial's variance-exploding forward process (docs/theory.md section 1)."""

    sigma: float
    kind = "diffusion"
    gaussian = True  # its start is N(0, sigma^2 I): the exact denoisers' posterior is Gaussian

    def path(self, t):
        """``(alpha_t, sigma_t)``: ``x_t = alpha_t x0 + sigma_t eps``, eps ~ N(0, I)."""
        return 1.0, self.sigma * t**0.5

    def tau(self, t):
        return self.sigma * t**0.5

    def t_of_tau(self, tau):
        """Inverse of ``tau``."""
        return (tau / self.sigma) ** 2

    def source_log_density(self, x) -> np.ndarray:
        """``log`` of the start's density, ``N(0, sigma^2 I)``."""
        return gaussian_log_density(x, self.sigma)

    def t_of_level(self, level):
        """Inverse of ``sigma_t / alpha_t`` (the noise level the network sees)."""
        return (level / self.sigma) ** 2

    def couple(self, x0, x1, t):
        """``x_t`` from a training pair: ``x1`` is the start draw ``sigma eps``."""
        return x0 + t**0.5 * x1

    def source(self, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        return self.sigma * rng.standard_normal((n, dim))

    @property
    def scale(self) -> float:
        return self.sigma

    def t_max(self) -> float:
        return 1.0

    def describe(self) -> dict:
        return {"kind": self.kind, "sigma": self.sigma}


@dataclass(frozen=True)
class LinearFlow:
    """``x_t = (1 - t) x0 + t x1``, ``x1`` from the source (independent pairs):
    ``N(0, scale^2 I)``, or an annulus when ``annulus`` is given."""

    scale: float  # the source's coordinate std
    annulus: Annulus | None = None
    kind = "flow"
    # Trained noise levels stop at sigma_t / alpha_t = LEVEL_MAX * scale
    # (t = 100/101), where E[x0 | x_t] is E[x0] to within about 1e-2 of the
    # data's spread (1e-4 in squared error; docs/theory.md section 18); above it
    # the network's noise embedding is held there.
    LEVEL_MAX = 100.0

    @property
    def gaussian(self) -> bool:
        return self.annulus is None

    def path(self, t):
        """``(alpha_t, sigma_t)``; for a non-Gaussian source ``sigma_t`` is the
        scale of the source's contribution, used only for preconditioning."""
        return 1 - t, self.scale * t

    def tau(self, t):
        return t

    def t_of_tau(self, tau):
        """Inverse of ``tau``."""
        return tau

    def source_log_density(self, x) -> np.ndarray:
        """``log`` of the source's density: ``N(0, scale^2 I)``, or the
        annulus's (``-inf`` off its ring: a bounded source)."""
        return gaussian_log_density(x, self.scale) if self.annulus is None else self.annulus.log_density(x)

    def t_of_level(self, level):
        """Inverse of ``sigma_t / alpha_t = scale t / (1 - t)``."""
        return level / (self.scale + level)

    def couple(self, x0, x1, t):
        return (1 - t) * x0 + t * x1

    def source(self, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        if self.annulus is None:
            return self.scale * rng.standard_normal((n, dim))
        if dim != 2:
            raise ValueError(f"an annulus source is 2-D, the data {dim}-D")
        return self.annulus.sample(n, rng)

    def t_max(self) -> float:
        return self.LEVEL_MAX / (1 + self.LEVEL_MAX)

    def describe(self) -> dict:
        if self.annulus is None:
            return {"kind": self.kind, "source": {"kind": "gaussian", "std": self.scale}}
        ring = {"kind": "annulus", "inner": self.annulus.inner, "outer": self.annulus.outer}
        return {"kind": self.kind, "source": ring}


def flow(source: dict) -> LinearFlow:
    """The linear flow from a config ``source`` section."""
    if source["kind"] == "gaussian":
        return LinearFlow(float(source["std"]))
    if source["kind"] == "annulus":
        a, b = float(source["inner"]), float(source["outer"])
        # coordinate std of radius ~ U(a, b) at a uniform angle: sqrt(E r^2 / 2)
        return LinearFlow(math.sqrt((a * a + a * b + b * b) / 6), Annulus(a, b))
    raise ValueError(f"source.kind: unknown kind {source['kind']!r}")


def from_config(exp: dict):
    """The process of an experiment: a ``source`` section makes it a flow."""
    if "source" in exp:
        return flow(exp["source"])
    return Diffusion(float(exp["sigma"]))


def from_description(desc: dict):
    """Inverse of ``describe`` (saved with a trained model)."""
    return Diffusion(float(desc["sigma"])) if desc["kind"] == "diffusion" else flow(desc["source"])


def exact_denoiser(process, dist):
    """``D(x, t) = E[x0 | x_t = x]`` of a distribution with an analytic
    posterior mean (Gaussian mixtures, the Swiss roll), under ``process``."""
    if not process.gaussian:
        raise ValueError("an exact denoiser of a flow needs a Gaussian source")

    def denoiser(x, t):
        alpha, sigma_t = process.path(t)
        return dist.posterior_mean(x, sigma_t, alpha)

    return denoiser
