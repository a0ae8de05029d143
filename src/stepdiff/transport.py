"""Straight paths and few-step maps: the measures and references of the
few-step study (docs/theory.md section 19: straight paths and couplings;
section 20: reflow and distillation).

A flow's ODE path is read in the noise-to-data time ``tau = 1 - t``: ``Z_0``
is the start ``z`` (``t = 1``), ``Z_1`` the sample (``t = 0``). Its velocity
under the linear flow is ``dZ/dtau = (D(x, t) - x) / t``, from the denoiser
alone. Three numbers describe the path (Liu et al. 2022):

    S  = int_0^1 E|(Z_1 - Z_0) - dZ/dtau|^2 dtau   (straightness: 0 iff straight at constant speed)
    PE = E int_0^1 |dZ/dtau|^2 dtau                 (path energy)
    TC = E|Z_1 - Z_0|^2                             (transport cost)

and ``PE = S + TC`` for the continuous path; ``TC - W2^2`` is the excess
cost of the coupling the flow realises. The W2 references (closed form,
exact in 1-D, exact assignment) and the couplings of flow-matching batches
(independent, minibatch OT) are here, as are torchcfm's two 2-D toy laws and
the error split of a one-step student against its teacher.

numpy and scipy only: the jobs that use this must start fast.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import sampling
from .data import GaussianMixture

# --------------------------------------------------------------------------- paths


def velocity(denoiser, x, t):
    """``dZ/dtau = E[x0 - x1 | x_t = x] = (D(x, t) - x) / t`` of the linear flow,
    for any source and coupling (``x = (1 - t) E[x0|x] + t E[x1|x]``); ``t > 0``."""
    return (denoiser(x, t) - x) / t


class FlowPath(NamedTuple):
    """An ODE path on the nodes ``tau`` (increasing, 0 to 1): states ``x`` and
    velocities ``v`` of shape ``(len(tau), n, d)``."""

    tau: np.ndarray
    x: np.ndarray
    v: np.ndarray


def flow_path(denoiser, process, z, ts, method=sampling.sample_heun) -> FlowPath:
    """The linear flow's probability-flow ODE from the starts ``z`` (``t = 1``)
    down the grid ``ts`` (decreasing, 1 to 0) by the project's sampler
    ``method``, every node kept, with the velocity at each node.

    The velocity is 0/0 at ``t = 0``; there it is the last step's mean slope,
    ``(Z_K - Z_(K-1)) / h`` (Heun's and Euler's last step is Euler with the
    slope at ``t_(K-1)``, so the path is straight at that velocity). The
    nodes are the quadrature nodes of :func:`straightness`: a uniform grid
    suits smooth laws; refine it near ``t = 0`` (``grids.times(k, "sigma")``)
    for laws with fine structure, where the velocity turns fastest."""
    if process.kind != "flow":
        raise ValueError("flow_path: the velocity (D - x) / t is the linear flow's")
    ts = np.asarray(ts, dtype=float)
    if ts[0] != 1.0 or ts[-1] != 0.0 or np.any(np.diff(ts) >= 0):
        raise ValueError("ts: decreasing from 1 to 0")
    nodes = [np.array(z, dtype=np.float64)]
    method(denoiser, process, nodes[0].copy(), ts, None, lambda i, x: nodes.append(np.array(x)))
    x = np.stack(nodes)
    v = np.empty_like(x)
    for k, t in enumerate(ts[:-1]):
        v[k] = velocity(denoiser, x[k], t)
    v[-1] = (x[-1] - x[-2]) / ts[-2]
    return FlowPath(1.0 - ts, x, v)


def trapezoid_weights(tau) -> np.ndarray:
    """Weights of the trapezoid rule on the nodes ``tau`` (they sum to the span)."""
    h = np.diff(tau)
    w = np.zeros(len(tau))
    w[:-1] += h / 2
    w[1:] += h / 2
    return w


def straightness(path: FlowPath) -> np.ndarray:
    """Per start, ``int |(Z_1 - Z_0) - dZ/dtau|^2 dtau`` by the trapezoid rule
    on the path's nodes: how far the path is from its chord at constant speed."""
    chord = path.x[-1] - path.x[0]
    return np.einsum("k,kn->n", trapezoid_weights(path.tau), ((chord - path.v) ** 2).sum(-1))


def path_energy(path: FlowPath) -> np.ndarray:
    """Per start, ``int |dZ/dtau|^2 dtau`` by the trapezoid rule."""
    return np.einsum("k,kn->n", trapezoid_weights(path.tau), (path.v**2).sum(-1))


def transport_cost(path: FlowPath) -> np.ndarray:
    """Per start, ``|Z_1 - Z_0|^2``: the cost of the pairing the flow realises."""
    return ((path.x[-1] - path.x[0]) ** 2).sum(-1)


def mean_se(values) -> tuple[float, float]:
    """Mean of per-sample values and its standard error (independent starts)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def path_scores(path: FlowPath) -> dict:
    """S, PE and TC with their standard errors over starts, and the defect
    ``PE - S - TC``: 0 for the continuous path; on the nodes it is
    ``2 (Z_1 - Z_0) . (trapezoid of v - (Z_1 - Z_0))``, the quadrature's
    miss of the displacement the solver took (second order in the step)."""
    s, pe, tc = straightness(path), path_energy(path), transport_cost(path)
    out = {}
    for name, values in (("straightness", s), ("path_energy", pe), ("transport_cost", tc)):
        out[name], out[f"{name}_se"] = mean_se(values)
    out["identity_defect"] = float(np.mean(pe - s - tc))
    return out


# ---------------------------------------------------------------------- W2 references


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh((c + c.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _covariance(c, d: int) -> np.ndarray:
    """A covariance from a scalar (isotropic), a vector (diagonal) or a matrix."""
    c = np.asarray(c, dtype=float)
    if c.ndim == 0:
        return c * np.eye(d)
    return np.diag(c) if c.ndim == 1 else c


def gaussian_w2_squared(m1, c1, m2, c2) -> float:
    """``W2^2(N(m1, C1), N(m2, C2)) = |m1 - m2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)``
    (the Bures metric). A covariance may be a scalar variance (isotropic), a
    vector of variances (diagonal) or a matrix."""
    m1, m2 = np.atleast_1d(np.asarray(m1, dtype=float)), np.atleast_1d(np.asarray(m2, dtype=float))
    d = max(len(m1), len(m2))
    c1, c2 = _covariance(c1, d), _covariance(c2, d)
    r1 = _psd_sqrt(c1)
    cross = np.trace(_psd_sqrt(r1 @ c2 @ r1))
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * cross)


def w2_1d(x, y) -> float:
    """W2 between two equal-size 1-D samples, exact: sorted order is the
    optimal pairing on a line (quantile to quantile)."""
    x, y = np.ravel(x), np.ravel(y)
    if len(x) != len(y):
        raise ValueError(f"w2_1d: equal sizes needed, got {len(x)} and {len(y)}")
    return float(np.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2)))


def optimal_pairing(x, y) -> np.ndarray:
    """The permutation ``p`` minimising ``sum_i |x_i - y_(p_i)|^2``: the exact
    assignment (Hungarian-type solver, O(n^3): batches of thousands). scipy is
    imported here: the workflow reads this module (through the study's
    checks) every time it builds the DAG, where scipy.optimize costs 0.4 s."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    x, y = np.atleast_2d(x), np.atleast_2d(y)
    if len(x) != len(y):
        raise ValueError(f"equal sizes needed, got {len(x)} and {len(y)}")
    rows, cols = linear_sum_assignment(cdist(x, y, "sqeuclidean"))
    return cols[np.argsort(rows)]


def w2_assignment(x, y) -> float:
    """W2 between two equal-size samples: ``sqrt`` of the mean squared cost
    of the exact assignment, i.e. W2 between the two empirical laws.

    As an estimate of W2 between the laws it is biased upward at finite n
    (in 2-D the bias falls only like ``n^(-1/2)``, times logs), and two draws
    of one law are not 0 apart: report it next to that floor, the same
    number between two independent draws of the reference law."""
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    return float(np.sqrt(np.mean(np.sum((x - y[optimal_pairing(x, y)]) ** 2, axis=1))))


# ------------------------------------------------------------------------- couplings


def independent(x0, x1):
    """The independent coupling: the pairs as drawn."""
    return x0, x1


def minibatch_ot(x0, x1, rng: np.random.Generator | None = None):
    """Minibatch OT coupling: ``x1`` reordered so that the pairs are the exact
    assignment under squared Euclidean cost within the batch (Pooladian et
    al. 2023; Tong et al. 2023); each point is used once.

    With ``rng`` the pairs are drawn as torchcfm's ``OTPlanSampler`` draws
    them: ``n`` pairs from the plan with replacement (about 63% distinct);
    the plan of equal-size uniform batches is this permutation."""
    perm = optimal_pairing(x0, x1)
    if rng is None:
        return x0, x1[perm]
    i = rng.integers(len(x0), size=len(x0))
    return x0[i], x1[perm[i]]


def minibatch_ot_pairs(x0, x1, batch: int, rng: np.random.Generator):
    """A minibatch-OT coupling as a set of pairs: both sets shuffled and cut
    into batches of ``batch`` (the last one shorter), each batch paired by the
    exact assignment. Training on these pairs (``learn.train``'s ``paired``)
    draws the coupling's pairs at the cost of one assignment per batch of
    the data, not per training step; returns ``(x0, x1)`` row-paired."""
    x0, x1 = np.asarray(x0), np.asarray(x1)
    if len(x0) != len(x1):
        raise ValueError(f"equal sizes needed, got {len(x0)} and {len(x1)}")
    a, b = x0[rng.permutation(len(x0))], x1[rng.permutation(len(x1))]
    for start in range(0, len(a), batch):
        end = start + batch
        b[start:end] = b[start:end][optimal_pairing(a[start:end], b[start:end])]
    return a, b


# --------------------------------------------------------- torchcfm's 2-D toy laws

_S = 1 / np.sqrt(2)
# torchcfm's centres, in its order
_EIGHT = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (_S, _S), (_S, -_S), (-_S, _S), (-_S, -_S)])


def eight_gaussians_law(scale: float = 5.0, var: float = 0.1) -> GaussianMixture:
    """torchcfm's ``sample_8gaussians`` as a law: 8 equal components centred
    on the circle of radius ``scale`` at multiples of 45 degrees.

    torchcfm builds its noise as ``MultivariateNormal(0, sqrt(var) I)``, a
    covariance of ``sqrt(var)``: each coordinate's std is ``var ** 0.25``
    (0.562 at ``var = 0.1``), not ``sqrt(var)``. Kept as torchcfm runs it.
    A ``GaussianMixture``, so it has an exact denoiser."""
    return GaussianMixture(scale * _EIGHT, var**0.25, np.ones(8))


def eight_gaussians(n: int, rng: np.random.Generator, scale: float = 5.0, var: float = 0.1) -> np.ndarray:
    """``n`` draws of :func:`eight_gaussians_law` (components uniform, as torchcfm's multinomial)."""
    return eight_gaussians_law(scale, var).sample(n, rng)


def moons(n: int, rng: np.random.Generator, noise: float = 0.2, kind: str = "torchcfm") -> np.ndarray:
    """torchcfm's ``sample_moons``: two half-circles, then ``* 3 - 1``.

    ``kind="torchcfm"``: torchcfm calls torchdyn's ``generate_moons``, not
    scikit-learn's. Its points sit at evenly spaced angles (``n // 2`` on the
    upper moon, first, then the rest on the lower; no shuffle), and its
    noise is one uniform ``U[0, noise)`` per point added to both coordinates:
    a shift along the diagonal, not a Gaussian blur. Two draws of this law
    differ only by those shifts. ``kind="sklearn"``: scikit-learn's
    ``make_moons`` (Gaussian noise of std ``noise``, shuffled) with a seed
    drawn from ``rng``."""
    if kind == "sklearn":
        from sklearn.datasets import make_moons  # slow import, only needed here

        seed = int(rng.integers(2**31 - 1))
        return make_moons(n_samples=n, noise=noise, random_state=seed)[0] * 3 - 1
    if kind != "torchcfm":
        raise ValueError(f"moons: kind 'torchcfm' or 'sklearn', got {kind!r}")
    n_out = n // 2
    a_out, a_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
    x = np.concatenate(
        [
            np.column_stack([np.cos(a_out), np.sin(a_out)]),
            np.column_stack([1 - np.cos(a_in), 0.5 - np.sin(a_in)]),
        ]
    )
    return (x + noise * rng.random((n, 1))) * 3 - 1


# ----------------------------------------------------------- one-step maps' errors


def split_error(g, phi_teacher, phi_exact) -> dict:
    """Per start, the student's error against its teacher, the teacher's own
    error and the student's total error against the exact map:
    ``total <= student + teacher`` row by row, so a student cannot be judged
    below its teacher's error."""
    g, phi_teacher, phi_exact = (np.atleast_2d(a) for a in (g, phi_teacher, phi_exact))
    return {
        "student": np.linalg.norm(g - phi_teacher, axis=1),
        "teacher": np.linalg.norm(phi_teacher - phi_exact, axis=1),
        "total": np.linalg.norm(g - phi_exact, axis=1),
    }


# ------------------------------------------------------- exact flows of a point set


def mixture_source_denoiser(points, source: GaussianMixture, chunk: int = 50_000):
    """``D(x, t) = E[x0 | x_t = x]`` of the linear flow ``x_t = (1 - t) x0 + t x1``
    with the independent coupling of ``x0`` uniform on ``points`` (m, d) and
    ``x1`` from the Gaussian mixture ``source`` (torchcfm's 8 Gaussians):
    ``x_t | x0 = p_i`` is the mixture of ``N((1 - t) p_i + t m_k, t^2 s_k^2 I)``,
    so the posterior weight of ``p_i`` is ``sum_k w_k N(x; ...)``, normalised
    over ``i``. The exact flow of that coupling, whatever the source. Exact
    for ``0 < t <= 1``; each component is one product of ``x`` with
    ``points`` (``|c - (1 - t) p|^2`` expanded), over chunks of samples of at
    most ``chunk`` sample-point pairs (small enough to stay in cache: 3x
    faster than one pass over 1000 x 1000)."""
    p = np.asarray(points, dtype=np.float64)
    d, pp = p.shape[1], np.sum(p * p, axis=1)

    def denoiser(x, t):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.empty_like(x)
        step = max(1, chunk // len(p))
        for a in range(0, len(x), step):  # chunks of samples, each vectorised over points
            log = None
            for mean, std, weight in zip(source.means, source.stds, source.weights):
                c = x[a : a + step] - t * mean
                sq = np.sum(c * c, axis=1)[:, None] - 2 * (1 - t) * (c @ p.T) + (1 - t) ** 2 * pp
                term = np.log(weight) - d * np.log(t * std) - 0.5 * sq / (t * std) ** 2
                log = term if log is None else np.logaddexp(log, term)
            w = np.exp(log - log.max(axis=1, keepdims=True))
            out[a : a + step] = w @ p / w.sum(axis=1, keepdims=True)
        return out

    return denoiser
