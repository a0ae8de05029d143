"""Classifier-free guidance with exact answers (docs/theory.md section 15).

Convention: the guided denoiser is ``D_g = D_u + g (D_c - D_u)``, so ``g = 0``
is the unconditional denoiser and ``g = 1`` the conditional one (``g = 1 + w``
in the other common convention). Guidance is a denoiser like any other: the
project's samplers run it unchanged.

Two labelled laws whose guided samplers have exact answers:

* ``LabelledGaussian`` (1-D): ``c ~ N(0, s_c^2)``, ``x0 | c ~ N(c, s^2)``. Both
  denoisers are affine in ``x``, so every guided step is affine and the
  output law is Gaussian: :func:`affine_law` reads it off the sampler's own
  code (the probe rows of ``laws.gaussian_law``), and :func:`ode_law`,
  :func:`sde_law` give the continuous-time limits (one quadrature). The
  "tilted" law ``p(x | c)^g p(x)^(1 - g)`` is Gaussian too, and differs.
* ``Ring`` (2-D): ``K`` Gaussian components on a circle, each its own class.
  The tilted law is ``p(x) pi_c(x)^g`` up to a constant (``pi_c``: the class
  posterior), computed on a grid (:func:`tilted_grid`) and sampled from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .data import GaussianMixture, gaussian
from .process import exact_denoiser


def guided(d_cond, d_uncond, g: float):
    """The guided denoiser ``D_u + g (D_c - D_u)`` of two denoisers ``D(x, t)``;
    at g = 0 and 1 exactly ``D_u`` and ``D_c`` (one evaluation, no rounding)."""
    if g == 0:
        return d_uncond
    if g == 1:
        return d_cond

    def denoiser(x, t):
        u = d_uncond(x, t)
        return u + g * (d_cond(x, t) - u)

    return denoiser


# ---------------------------------------------------------------- 1-D closed form


@dataclass(frozen=True)
class LabelledGaussian:
    """``c ~ N(0, label_std^2)``, ``x0 | c ~ N(c, std^2)``, conditioned on ``label``:
    ``p(x0 | c) = N(c, s^2)`` and ``p(x0) = N(0, s^2 + s_c^2)``."""

    label: float
    std: float
    label_std: float

    @property
    def total_std(self) -> float:
        return math.hypot(self.std, self.label_std)

    def guided_denoiser(self, process, g: float):
        """``D_g`` under ``process`` (each half is ``data.gaussian``'s exact denoiser)."""
        cond = exact_denoiser(process, gaussian(self.label, self.std))
        return guided(cond, exact_denoiser(process, gaussian(0.0, self.total_std)), g)

    def tilted(self, g: float) -> tuple[float, float]:
        """(mean, std) of ``p(x | c)^g p(x)^(1 - g)``: precision
        ``L = g/s^2 + (1 - g)/(s^2 + s_c^2)``, mean ``(g c / s^2) / L``."""
        s2, total2 = self.std**2, self.total_std**2
        precision = g / s2 + (1 - g) / total2
        if precision <= 0:
            raise ValueError(f"the tilted law at g = {g} has precision {precision} <= 0: not a law")
        return g * self.label / s2 / precision, 1 / math.sqrt(precision)

    def p1(self, g: float, sigma: float) -> tuple[float, float]:
        """The right start of the diffusion for ``g = 0`` (``p_1``) or ``g = 1``
        (``p_1(. | c)``): the data law blurred by ``N(0, sigma^2)``."""
        if g not in (0, 1):
            raise ValueError("p_1 of a guided law is known for g = 0 and g = 1 only")
        mean, std = (self.label, self.std) if g == 1 else (0.0, self.total_std)
        return mean, math.hypot(std, sigma)

    def _psi(self, g, v):
        """``Psi(v) = (S^2 + v)^(1 - g) (s^2 + v)^g``: ``d log Psi / dv = (1 - A) / v``
        for the guided denoiser's slope ``A`` at ``sigma_t^2 = v``."""
        return (self.total_std**2 + v) ** (1 - g) * (self.std**2 + v) ** g

    def _integral(self, f, v1):
        """``int_0^v1 f(v) dv / (s^2 + v)`` in ``w = log(1 + v / s^2)``, where
        the integrands of the limits below are smooth over any range of ``v``."""
        from scipy.integrate import quad

        s2 = self.std**2
        return quad(lambda w: f(s2 * math.expm1(w)), 0, math.log1p(v1 / s2), epsabs=0, epsrel=1e-11)[0]

    def ode_law(self, g: float, sigma: float, start=None) -> tuple[float, float]:
        """(mean, std) at t = 0 of the guided probability-flow ODE of the
        diffusion from ``start`` = (mean, std) at ``sigma_t = sigma`` (default
        ``N(0, sigma^2)``): DDIM's limit as its steps shrink. In ``v =
        sigma_t^2`` deviations scale by ``phi(0) / phi(v1)``, ``phi = sqrt(Psi)``,
        and the mean solves ``d(m / phi)/dv = -g c / (2 (s^2 + v) phi)``. As
        ``sigma`` grows the std tends to ``S^(1 - g) s^g``."""
        m1, q1 = (0.0, sigma) if start is None else start
        v1 = sigma**2
        phi = lambda v: math.sqrt(self._psi(g, v))  # noqa: E731
        pull = self._integral(lambda v: 1 / phi(v), v1)
        return phi(0) * (m1 / phi(v1) + g * self.label / 2 * pull), q1 * phi(0) / phi(v1)

    def sde_law(self, g: float, sigma: float, start=None) -> tuple[float, float]:
        """(mean, std) at t = 0 of DDPM's limit, the guided reverse SDE: the
        mean solves ``d(m / Psi)/dv = -g c / ((s^2 + v) Psi)`` and the variance
        ``V(0) = Psi(0)^2 (V1 / Psi(v1)^2 + int_0^v1 dv / Psi^2)``."""
        m1, q1 = (0.0, sigma) if start is None else start
        v1, s2 = sigma**2, self.std**2
        psi = lambda v: self._psi(g, v)  # noqa: E731
        pull = self._integral(lambda v: 1 / psi(v), v1)
        spread = self._integral(lambda v: (s2 + v) / psi(v) ** 2, v1)
        mean = psi(0) * (m1 / psi(v1) + g * self.label * pull)
        return mean, psi(0) * math.sqrt(q1**2 / psi(v1) ** 2 + spread)


# ---------------------------------------------------------------- 2-D: a ring of classes


@dataclass(frozen=True)
class Ring:
    """``classes`` Gaussian components ``N(a_k, std^2 I)`` of equal weight on the
    circle of ``radius`` (``a_k`` at angle ``2 pi k / classes``); component
    ``k`` is class ``k``."""

    classes: int
    radius: float
    std: float

    @cached_property
    def means(self) -> np.ndarray:
        angle = 2 * np.pi * np.arange(self.classes) / self.classes
        return self.radius * np.column_stack([np.cos(angle), np.sin(angle)])

    @cached_property
    def mixture(self) -> GaussianMixture:
        """``p(x0)``, the unconditional law."""
        return GaussianMixture(self.means, self.std, np.ones(self.classes))

    def component(self, k: int) -> GaussianMixture:
        """``p(x0 | k)``: one component."""
        return GaussianMixture(self.means[k : k + 1], self.std, 1.0)

    def denoisers(self, process, k: int):
        """The exact conditional and unconditional denoisers of class ``k``."""
        return exact_denoiser(process, self.component(k)), exact_denoiser(process, self.mixture)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` labelled points: (x (n, 2), labels (n,))."""
        labels = rng.integers(self.classes, size=n)
        return self.means[labels] + self.std * rng.standard_normal((n, 2)), labels

    def in_sector(self, x, k: int) -> np.ndarray:
        """Whether each row lies in class ``k``'s angular sector: within ``pi /
        classes`` of its angle (the region where ``a_k`` is the nearest mean)."""
        angle = np.arctan2(x[:, 1], x[:, 0]) - 2 * np.pi * k / self.classes
        return np.abs(np.angle(np.exp(1j * angle))) < np.pi / self.classes

    def log_tilted(self, x, k: int, g: float) -> np.ndarray:
        """``log p(x)^(1 - g) p(x | k)^g`` up to a constant, i.e. ``log p(x) + g
        log pi_k(x)`` with ``pi_k`` the class posterior (the weights are equal)."""
        from scipy.special import logsumexp

        log_comp = -((x[:, None, :] - self.means[None]) ** 2).sum(-1) / (2 * self.std**2)  # (n, K)
        log_p = logsumexp(log_comp, axis=1)
        return (1 - g) * log_p + g * log_comp[:, k]

    def tilted_rejection(self, n: int, k: int, g: float, rng: np.random.Generator) -> np.ndarray:
        """An exact draw of the tilted law: draws of ``p`` kept with probability
        ``pi_k(x)^g <= 1`` (``p pi_k^g`` is the tilted density up to a constant).
        The oracle of :func:`tilted_grid`'s draws."""
        out, have = [], 0
        while have < n:
            x = self.mixture.sample(4 * self.classes * (n - have) + 100, rng)
            log_pi = self.log_tilted(x, k, 1.0) - self.log_tilted(x, k, 0.0)  # equal weights cancel
            keep = x[np.log(rng.random(len(x))) < g * log_pi]
            out.append(keep)
            have += len(keep)
        return np.concatenate(out)[:n]


@dataclass(frozen=True)
class TiltedGrid:
    """The tilted law's probability per cell of a square grid: ``mass[i, j]``
    for the cell ``[edges[j], edges[j+1]] x [edges[i], edges[i+1]]``
    (rows are y: the image's layout)."""

    edges: np.ndarray
    mass: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """The cells' centres, (cells^2, 2) in ``mass.ravel()``'s order."""
        mid = (self.edges[:-1] + self.edges[1:]) / 2
        xx, yy = np.meshgrid(mid, mid)
        return np.column_stack([xx.ravel(), yy.ravel()])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Cells drawn by their mass, a uniform point within each."""
        cells = rng.choice(self.mass.size, size=n, p=self.mass.ravel())
        width = self.edges[1] - self.edges[0]
        return self.centres[cells] + width * (rng.random((n, 2)) - 0.5)


def tilted_grid(ring: Ring, k: int, g: float, cells: int = 400, reach: float = 6.0) -> TiltedGrid:
    """The tilted law of class ``k`` at scale ``g`` on ``cells x cells`` cells of
    the square ``|x|, |y| <= radius + reach std``: the density at each cell's
    centre (log-sum-exp, normalised), times the cell's area. The tilted
    density is ``p pi_k^g`` up to a constant and ``pi_k <= 1``, so its tails
    are ``p``'s: the square leaves out about a Gaussian's mass beyond
    ``reach`` stds (tests compare the grid with :meth:`Ring.tilted_rejection`)."""
    half = ring.radius + reach * ring.std
    edges = np.linspace(-half, half, cells + 1)
    grid = TiltedGrid(edges, np.empty((cells, cells)))
    log_density = ring.log_tilted(grid.centres, k, g)
    mass = np.exp(log_density - log_density.max())
    return TiltedGrid(edges, (mass / mass.sum()).reshape(cells, cells))


def sector_stats(ring: Ring, x, k: int, weights=None) -> dict:
    """The share of ``x`` in class ``k``'s sector (:meth:`Ring.in_sector`)
    and the spread within it: the root-mean-square distance to the class
    mean ``a_k``. With ``weights`` (a grid's masses) the values are exact
    integrals and their errors 0; else binomial and delta-method errors."""
    inside = ring.in_sector(x, k)
    d2 = ((x - ring.means[k]) ** 2).sum(1)
    if weights is not None:
        w = weights.ravel()
        share = float(w[inside].sum())
        return {
            "sector": share,
            "sector_se": 0.0,
            "spread": math.sqrt(w[inside] @ d2[inside] / share),
            "spread_se": 0.0,
        }
    share, d2 = float(inside.mean()), d2[inside]
    spread = math.sqrt(d2.mean())
    return {
        "sector": share,
        "sector_se": math.sqrt(share * (1 - share) / len(x)),
        "spread": spread,
        "spread_se": float(d2.std(ddof=1) / math.sqrt(len(d2)) / (2 * spread)),
    }
