"""Log-likelihood by the probability-flow ODE (docs/theory.md section 14).

Along ``dx/dtau = (x - D(x, t))/tau`` (both processes; ``tau = process.tau(t)``)
``d log q_t(x(t))/dtau = -(d - tr dD/dx)/tau``, so a data point's model
log-density is

    log q(x0) = log q_1(x(1)) + int (d - tr dD/dx) dlog(tau),

integrated from the point up to the start ``t = 1``, with ``q_1`` the law the
sampler starts from. In ``u = log tau`` both the state and the integrand are
bounded (``dx/du = x - D``, ``d/du int = d - tr J``); the solver is classical
fourth-order Runge-Kutta in ``u`` on ``tau_grid`` (uniform in ``tau^(1/7)``,
from ``t_min`` to 1), and the last stretch ``[0, t_min]`` is one Euler step
with the slope at ``t_min`` (its error is ``O(tau_min^2)``; the integrand
itself is finite there for data with a density). The divergence is exact,
never a Hutchinson estimate:

* a Gaussian mixture: ``dD/dx = (alpha / sigma_t^2) Cov[x0 | x_t]``, in
  closed form (:func:`mixture_terms`); a law on a curve with blur (the
  spiral) is the mixture of its quadrature nodes (:func:`curve_mixture`);
* a network loaded by ``learn.load`` (torch): ``torch.func.jacrev`` under
  ``vmap``; the numpy forward pass of ``network.Denoiser``: forward-mode
  tangents through its ReLU layers (``network.Denoiser.terms``).

A *field* here is a function ``(x, t) -> (D, tr dD/dx)`` of a batch ``x``
(n, d) at one time ``t``. Torch is imported only where a torch module is
differentiated, so this module loads in the numpy-only jobs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .curve import gauss_legendre
from .data import GaussianMixture, OnCurve

RHO = 7.0  # the grid's spacing (tau_grid)
STEPS = 64  # Runge-Kutta steps: doubling them changes log q by < 1e-3 nats (tests/test_likelihood.py)
PANEL = 2.0  # curve quadrature: panel length along the curve, in kernel widths (8 Gauss-Legendre nodes each)
MIN_PANELS = 16
BLOCK = 2_000_000  # rows x components per chunk of a mixture evaluation


# --- Gaussian mixtures: log-density, posterior mean and its Jacobian's trace ---------------------------


def _chunks(n: int, k: int):
    step = max(1, BLOCK // max(k, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _logits(dist: GaussianMixture, x, sigma_t, alpha, normalised=True):
    """``log w_i N(x; alpha a_i, v_i I)`` (n, k), expanded around the component
    means' centre (as ``GaussianMixture.posterior_mean``: far from the origin a
    plain expansion of ``|x - a|^2`` cancels), and the pieces reused below.
    ``normalised=False`` drops what is constant along a row (for a softmax)."""
    v = (alpha * dist.stds) ** 2 + sigma_t**2
    if np.any(v <= 0):
        raise ValueError("a point mass has no density at sigma_t = 0")
    a = alpha * dist.means
    c = a.mean(0)
    xc, ac = x - c, a - c
    logits = xc @ (ac / v[:, None]).T
    if normalised or np.ptp(v) > 0:  # |x|^2 / (2 v_i) is constant along a row when v is shared
        logits -= (xc**2).sum(1)[:, None] / (2 * v)
    logits += np.log(dist.weights) - (ac**2).sum(1) / (2 * v) - 0.5 * dist.dim * np.log(2 * np.pi * v)
    return logits, v, xc, ac


def _logsumexp(logits):
    top = logits.max(1, keepdims=True)
    return top[:, 0] + np.log(np.exp(logits - top).sum(1))


def mixture_log_density(dist: GaussianMixture, x, sigma_t=0.0, alpha=1.0) -> np.ndarray:
    """``log p_t(x)`` of ``alpha x0 + sigma_t eps`` for ``x0`` from the mixture."""
    x = np.asarray(x, dtype=float)
    out = np.empty(len(x))
    for rows in _chunks(len(x), len(dist.weights)):
        out[rows] = _logsumexp(_logits(dist, x[rows], sigma_t, alpha)[0])
    return out


def mixture_terms(dist: GaussianMixture, x, sigma_t, alpha=1.0):
    """``D(x) = E[x0 | x_t = x]`` and ``tr dD/dx`` for the mixture, in closed form.

    ``d/dx log p(x0 | x) = alpha (x0 - D) / sigma_t^2``, so ``dD/dx =
    (alpha / sigma_t^2) Cov[x0 | x]``. Per component the posterior is
    ``N(m_i, c_i I)`` with ``m_i = a_i + k_i (x - alpha a_i)``, ``k_i = alpha
    s_i^2 / v_i``, ``c_i = s_i^2 sigma_t^2 / v_i``; with ``f_i = (alpha a_i -
    x) / v_i``, ``m_i - D = (sigma_t^2 / alpha)(f_i - E f)``, hence

        tr dD/dx = d E[k] + (sigma_t^2 / alpha) (E|f|^2 - |E f|^2)

    (expectations over the component posterior ``pi``): no ``1/sigma_t^2``
    left to blow up at small noise. At ``alpha = 0`` (a flow's ``t = 1``)
    ``D = E[x0]`` and the trace is 0.
    """
    x = np.asarray(x, dtype=float)
    n, d = x.shape
    if alpha == 0:
        return np.broadcast_to(dist.weights @ dist.means, x.shape).copy(), np.zeros(n)
    s2 = dist.stds**2
    den, trace = np.empty((n, d)), np.empty(n)
    for rows in _chunks(n, len(s2)):
        logits, v, xc, ac = _logits(dist, x[rows], sigma_t, alpha, normalised=False)
        logits -= logits.max(1, keepdims=True)
        pi = np.exp(logits, out=logits)  # unnormalised: one product gives every posterior mean below
        k = alpha * s2 / v
        g, h = ac / v[:, None], 1 / v  # f_i = g_i - xc h_i
        columns = [
            dist.means - (k * alpha)[:, None] * dist.means,
            k,
            g,
            h,
            (g**2).sum(1),
            g * h[:, None],
            h**2,
        ]
        means = pi @ np.column_stack(columns) / pi.sum(1)[:, None]
        shifted, mean_k, mean_g = means[:, :d], means[:, d], means[:, d + 1 : 2 * d + 1]
        mean_h, mean_g2, mean_gh, mean_h2 = (
            means[:, 2 * d + 1],
            means[:, 2 * d + 2],
            means[:, -d - 1 : -1],
            means[:, -1],
        )
        den[rows] = shifted + mean_k[:, None] * x[rows]
        mean_f = mean_g - xc * mean_h[:, None]
        second = mean_g2 - 2 * (xc * mean_gh).sum(1) + (xc**2).sum(1) * mean_h2
        spread = np.maximum(second - (mean_f**2).sum(1), 0.0)
        trace[rows] = d * mean_k + sigma_t**2 / alpha * spread
    return den, trace


# --- laws on a curve (the spiral, a blurred roll) as mixtures of quadrature nodes ----------------------


def _has_density(dist) -> bool:
    if isinstance(dist, GaussianMixture):
        return bool(np.all(dist.stds > 0))
    return isinstance(dist, OnCurve) and dist.noise_std > 0


@lru_cache(maxsize=64)
def _curve_rule(dist: OnCurve, panels: int) -> GaussianMixture:
    curve = dist.curve
    u = np.linspace(curve.lo, curve.hi, 8193)
    arc = curve.scale * 0.5 * (u * np.sqrt(1 + u**2) + np.arcsinh(u))  # |c'(u)| = scale sqrt(1 + u^2)
    edges = np.interp(np.linspace(arc[0], arc[-1], panels + 1), arc, u)  # equal lengths along the curve
    nodes, weights = gauss_legendre(edges[:-1], edges[1:], 1)
    return GaussianMixture(curve.point(nodes.ravel()), dist.noise_std, weights.ravel())


def curve_mixture(dist: OnCurve, width: float) -> GaussianMixture:
    """The curve law as the Gaussian mixture of a composite Gauss-Legendre rule
    over its angle (8 nodes per panel, panels ``PANEL`` kernel widths long along
    the curve): ``p(x) = int N(x; c(u), nu^2 I) du / (hi - lo)`` for every
    kernel width at least ``width`` (the blur ``nu`` itself at ``t = 0``, ``r =
    sqrt(sigma_t^2/alpha^2 + nu^2)`` at ``t``). Checked against brute force on
    10^6 angles in tests/test_likelihood.py."""
    if not _has_density(dist):
        raise ValueError("a law on a curve without blur (noise 0) has no density")
    curve = dist.curve
    length = curve.scale * 0.5 * (curve.hi * np.sqrt(1 + curve.hi**2) + np.arcsinh(curve.hi))
    length -= curve.scale * 0.5 * (curve.lo * np.sqrt(1 + curve.lo**2) + np.arcsinh(curve.lo))
    panels = int(np.clip(np.ceil(length / (PANEL * max(width, dist.noise_std))), MIN_PANELS, 1 << 14))
    return _curve_rule(dist, panels)


def _as_mixture(dist, sigma_t, alpha) -> GaussianMixture:
    if isinstance(dist, GaussianMixture):
        return dist
    if isinstance(dist, OnCurve):
        width = np.inf if alpha == 0 else np.sqrt((sigma_t / alpha) ** 2 + dist.noise_std**2)
        return curve_mixture(dist, width)
    raise ValueError(f"no exact density for {type(dist).__name__}")


def log_density(dist, x, sigma_t=0.0, alpha=1.0) -> np.ndarray:
    """``log p_t(x)`` of ``alpha x0 + sigma_t eps`` with ``x0`` from ``dist``
    (the data's own density at ``sigma_t = 0``): a Gaussian mixture in closed
    form, a law on a curve (the spiral: a Gaussian of std ``noise`` around each
    curve point, averaged over the angle's uniform law) by quadrature."""
    if not _has_density(dist) and sigma_t == 0:
        raise ValueError(f"{type(dist).__name__} without blur has no density")
    return mixture_log_density(_as_mixture(dist, sigma_t, alpha), x, sigma_t, alpha)


# --- fields: (x, t) -> (D, tr dD/dx) -----------------------------------------------------------------


def exact_field(process, dist):
    """The exact denoiser of ``dist`` under ``process`` and its Jacobian's trace."""
    if not process.gaussian:
        raise ValueError("an exact denoiser of a flow needs a Gaussian source")
    if not _has_density(dist):
        raise ValueError(f"{type(dist).__name__} has no density: it has no likelihood")

    def field(x, t):
        alpha, sigma_t = process.path(t)
        return mixture_terms(_as_mixture(dist, sigma_t, alpha), x, sigma_t, alpha)

    return field


def torch_field(model):
    """A torch ``model(x, t)`` (``learn.load``) and its exact Jacobian's trace
    by ``torch.func.jacrev`` over each row (``vmap``)."""
    import torch
    from torch.func import jacrev, vmap

    dtype = next(model.parameters()).dtype

    def row(xi, ti):
        out = model(xi[None], ti[None])[0]
        return out, out

    jac = vmap(jacrev(row, has_aux=True))

    def field(x, t):
        xt = torch.as_tensor(np.asarray(x), dtype=dtype)
        with torch.no_grad():  # no graph for the weights; jacrev still differentiates in x
            j, out = jac(xt, torch.full((len(xt), 1), float(t), dtype=dtype))
        trace = torch.diagonal(j, dim1=-2, dim2=-1).sum(-1)
        return out.double().numpy(), trace.double().numpy()

    return field


def field_of(denoiser):
    """The field of a learned denoiser: a torch module (:func:`torch_field`)
    or a numpy ``network.Denoiser`` (its exact trace, ``terms``)."""
    if hasattr(denoiser, "parameters") and hasattr(denoiser, "forward"):
        return torch_field(denoiser)
    if hasattr(denoiser, "terms"):
        return denoiser.terms
    raise TypeError(f"no exact Jacobian for {type(denoiser).__name__}")


# --- the start and the ODE -------------------------------------------------------------------------------


def source_log_density(process, x) -> np.ndarray:
    """``log`` of the start law's density at ``t = 1``: ``N(0, sigma^2 I)``
    (diffusion), ``N(0, scale^2 I)`` (a flow's Gaussian source), or the
    annulus's ``1 / (2 pi r (outer - inner))`` on its ring and ``-inf`` off it:
    a bounded source gives a model density that is zero off the image of its
    support, and an infinite KL from any data law with unbounded support."""
    return process.source_log_density(np.asarray(x, dtype=float))


def true_start(dist, process):
    """``log p_1``: the data pushed to ``t = 1`` (no start mismatch)."""
    alpha, sigma_t = process.path(1.0)
    return lambda x: log_density(dist, x, sigma_t, alpha)


def _time(process, tau: float) -> float:
    """The time of ODE time ``tau`` (the inverse of ``process.tau``)."""
    return min(float(process.t_of_tau(tau)), 1.0)


def tau_grid(process, steps: int, t_min: float, rho: float = RHO) -> np.ndarray:
    """``steps + 1`` increasing ODE times from ``tau(t_min)`` to ``tau(1)``,
    uniform in ``tau^(1/rho)`` (Karras et al. 2022's spacing, run upwards):
    short steps at small ``tau``, where the denoiser changes fastest."""
    lo, hi = process.tau(t_min) ** (1 / rho), process.tau(1.0) ** (1 / rho)
    return np.linspace(lo, hi, steps + 1) ** rho


def flow_to_start(field, process, x0, steps: int = STEPS, t_min: float = 1e-4):
    """Each point's ODE path from ``t = 0`` to ``t = 1``: returns ``x(1)`` and
    ``int (d - tr J) dtau / tau``. Classical fourth-order Runge-Kutta in ``u =
    log tau`` (``dx/du = x - D``, ``d/du int = d - tr J``: both bounded) on the
    steps of :func:`tau_grid`, four field calls a step; the stretch ``[0,
    tau(t_min)]`` is one Euler step with the slope at ``t_min``, whose error is
    ``O(tau(t_min)^2)``. (Heun in ``tau`` needs about 30 times the calls for
    the same error on Gaussian data: ``x`` grows tenfold from data to start,
    and so does its error.)"""
    x = np.array(x0, dtype=float)
    d = x.shape[1]
    u = np.log(tau_grid(process, steps, t_min))

    def slope(x, v, t=None):
        den, trace = field(x, _time(process, np.exp(v)) if t is None else t)
        return x - den, d - trace

    f, g = slope(x, u[0], t_min)
    integral = g  # int_0^tau_min (d - tr J) dtau / tau, with the slope at tau_min
    x = x + f
    for i in range(steps):
        h, mid = u[i + 1] - u[i], 0.5 * (u[i] + u[i + 1])
        f1, g1 = slope(x, u[i], t_min if i == 0 else None)
        f2, g2 = slope(x + 0.5 * h * f1, mid)
        f3, g3 = slope(x + 0.5 * h * f2, mid)
        f4, g4 = slope(x + h * f3, u[i + 1], 1.0 if i == steps - 1 else None)
        x = x + h / 6 * (f1 + 2 * f2 + 2 * f3 + f4)
        integral += h / 6 * (g1 + 2 * g2 + 2 * g3 + g4)
    return x, integral


def log_likelihood(field, process, x0, steps: int = STEPS, t_min: float = 1e-4, start=None) -> np.ndarray:
    """``log q(x0)`` of the model ``field`` under ``process``: the ODE from
    each point up to ``t = 1``, plus the start's log-density there (``start``:
    a function of ``x(1)``; the process's source by default). ``-inf`` where
    a bounded source gives no density."""
    x1, integral = flow_to_start(field, process, x0, steps, t_min)
    start = (lambda y: source_log_density(process, y)) if start is None else start
    return start(x1) + integral


# --- summaries -----------------------------------------------------------------------------------------


def mean_se(values) -> tuple[float, float]:
    """The mean and its standard error (the spread over the points)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def kl_divergence(log_p, log_q) -> dict:
    """``KL(p || q) = E_p[log p - log q]`` from held-out points of ``p``, with
    its standard error, and ``outside``: how many points have no model density
    (``log q = -inf``: a bounded source). Then the KL is infinite and is
    reported as ``None``, never as a number."""
    log_p, log_q = np.asarray(log_p, dtype=float), np.asarray(log_q, dtype=float)
    outside = int(np.sum(np.isneginf(log_q)))
    if outside:
        return {"kl": None, "se": None, "outside": outside}
    kl, se = mean_se(log_p - log_q)
    return {"kl": kl, "se": se, "outside": 0}


def start_kl(dist, process, nodes: int = 24) -> float:
    """``KL(p_1 || q_1)``, the start's cost: the exact ODE is a bijection that
    carries ``p_1`` to the data and the start to the model's law, so this is
    the exact-denoiser model's ``KL(p || q)``. Gauss-Hermite quadrature (a
    tensor rule of ``nodes`` per axis) over each component of ``p_1`` as a
    mixture; 0 for a flow from its Gaussian source (``p_1`` is the source)."""
    alpha, sigma_t = process.path(1.0)
    if alpha == 0:
        return 0.0
    mix = _as_mixture(dist, sigma_t, alpha)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-z^2/2)
    grids = np.meshgrid(*[z] * mix.dim, indexing="ij")
    z = np.stack([g.ravel() for g in grids], 1)
    w = np.prod(np.meshgrid(*[w] * mix.dim, indexing="ij"), 0).ravel() / (2 * np.pi) ** (mix.dim / 2)
    std = np.sqrt((alpha * mix.stds) ** 2 + sigma_t**2)
    points = (alpha * mix.means[:, None, :] + std[:, None, None] * z[None]).reshape(-1, mix.dim)
    weights = (mix.weights[:, None] * w[None]).ravel()
    gap = mixture_log_density(mix, points, sigma_t, alpha) - source_log_density(process, points)
    return float(weights @ gap)
