"""Log-likelihood by the probability-flow ODE against exact oracles
(docs/theory.md section 14): Gaussian data (the output law in closed form),
a Gaussian mixture, the start's KL cost, the spiral's density by quadrature,
and the exact Jacobian trace of mixtures and networks."""

import copy

import numpy as np
import pytest

from stepdiff import data, laws, likelihood, network, process
from stepdiff.jobs.train_network import shared_training
from stepdiff.registry import ConfigError
from stepdiff.seeds import rng_for
from stepdiff.studies import likelihood as study

# exp0: data N(3, 1/2), diffusion with sigma^2 = 50
MEAN, STD, SIGMA = 3.0, 0.5**0.5, 50**0.5
# a 2-D mixture centred at the origin (weighted mean 0): see test_mixture_from_a_large_sigma
MIXTURE = data.GaussianMixture(
    np.array([[-1.0, 0.0], [1.0, 1.0], [0.0, -0.75]]), [0.25, 0.35, 0.3], [0.3, 0.3, 0.4]
)
T_TINY = 1e-12  # exact denoisers start the ODE here: the closing Euler step's error is O(tau^2) ~ 1e-10


def gaussian_log_pdf(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))


def ddim_limit(mean, std, sigma):
    """The exact ODE's output law on N(mean, std^2) from N(0, sigma^2): the
    flow map ``x(tau) - mean = sqrt((std^2 + tau^2)/(std^2 + sigma^2)) (x1 - mean)``
    at ``tau = 0`` (docs/theory.md section 14)."""
    r = std / np.sqrt(std**2 + sigma**2)
    return mean * (1 - r), sigma * r


def test_gaussian_output_law_is_the_ddim_limit_of_exp0():
    """The closed form is what the samplers converge to: ``gaussian_law`` (the
    sampler's own exact law on Gaussian data) of Heun on 2000 karras steps down
    to t = 1e-14 agrees to 1e-5 (its error is O(1/steps^2)); mean 2.7015 as
    the issue says."""
    mean, std = ddim_limit(MEAN, STD, SIGMA)
    assert round(mean, 4) == 2.7015
    law = laws.gaussian_law(MEAN, STD, process.Diffusion(SIGMA), "heun_karras", 2000, t_min=1e-14)
    np.testing.assert_allclose(law, (mean, std), rtol=0, atol=1e-5)


def test_gaussian_data_from_the_diffusion_start_gives_the_output_law_not_the_data():
    """From N(0, sigma^2) the model's log q is the log-density of the ODE's
    output law N(2.7015, 0.7036^2), to 1e-3 nats (measured: about 1e-5 with
    64 Runge-Kutta steps), over +-4 standard deviations of both laws; the
    data's own density is off by more than 0.1 there (the start mismatch)."""
    proc = process.Diffusion(SIGMA)
    x = np.linspace(0.2, 5.8, 57)[:, None]
    log_q = likelihood.log_likelihood(
        likelihood.exact_field(proc, data.gaussian([MEAN], STD)), proc, x, t_min=T_TINY
    )
    mean, std = ddim_limit(MEAN, STD, SIGMA)
    np.testing.assert_allclose(log_q, gaussian_log_pdf(x[:, 0], mean, std), rtol=0, atol=1e-3)
    assert np.abs(log_q - gaussian_log_pdf(x[:, 0], MEAN, STD)).max() > 0.1


@pytest.mark.parametrize(
    "proc",
    [process.Diffusion(SIGMA), process.Diffusion(1.0), process.LinearFlow(1.0), process.LinearFlow(3.0)],
)
def test_gaussian_data_from_the_true_p1_gives_the_data_density(proc):
    """Started from the true p_1 (for a flow from a Gaussian source, the source
    itself: its t = 1 has alpha = 0 and D = E[x0]), log q is the data's own
    log-density to 1e-3 nats, in 1-D and 2-D."""
    for dist in (data.gaussian([MEAN], STD), data.gaussian([1.0, -2.0], 0.6)):
        x = dist.sample(200, np.random.default_rng(1))
        field = likelihood.exact_field(proc, dist)
        log_q = likelihood.log_likelihood(
            field, proc, x, t_min=T_TINY, start=likelihood.true_start(dist, proc)
        )
        np.testing.assert_allclose(log_q, likelihood.log_density(dist, x), rtol=0, atol=1e-3)


def test_mixture_from_a_large_sigma():
    """A 2-D mixture, exact denoiser, sigma = 80: from N(0, sigma^2), log q is
    the mixture's log-density to 1e-3 nats. Pointwise the gap is log N(x1; 0,
    sigma^2) - log p_1(x1), which for a mixture with mean 0 and covariance S is
    about tr S / (2 sigma^2) - x1' S x1 / (2 sigma^4): 2e-4 at |x1| ~ 2 sigma
    (tr S ~ 2.6; a mixture with mean m would add m.x1/sigma^2, ~|m|/sigma).
    From the true p_1 the gap is the ODE's error alone: 1e-4."""
    proc = process.Diffusion(80.0)
    x = MIXTURE.sample(300, np.random.default_rng(2))
    field = likelihood.exact_field(proc, MIXTURE)
    log_p = likelihood.log_density(MIXTURE, x)
    np.testing.assert_allclose(
        likelihood.log_likelihood(field, proc, x, t_min=T_TINY), log_p, rtol=0, atol=1e-3
    )
    exact = likelihood.log_likelihood(
        field, proc, x, t_min=T_TINY, start=likelihood.true_start(MIXTURE, proc)
    )
    np.testing.assert_allclose(exact, log_p, rtol=0, atol=1e-3)


def hermite_nodes(dist: data.GaussianMixture, n=16):
    """Gauss-Hermite nodes and weights of the mixture: E_p[f] = w @ f(nodes)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    zz = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2)
    ww = np.outer(w, w).ravel() / (2 * np.pi)
    nodes = (dist.means[:, None, :] + dist.stds[:, None, None] * zz).reshape(-1, 2)
    return nodes, (dist.weights[:, None] * ww).ravel()


@pytest.mark.parametrize("sigma, steps", [(1.0, 64), (80.0, 256)])
def test_the_start_costs_its_kl_in_nats(sigma, steps):
    """The exact ODE is one bijection carrying p_1 to the data and N(0,
    sigma^2) to the model's law, so KL(p || q) = KL(p_1 || N(0, sigma^2)).
    Gaussian data: both sides against the closed form, to 1e-3 relative plus
    1e-6 nats. The mixture: E_p[log p - log q] by Gauss-Hermite quadrature over
    the data (log q from the ODE at the nodes) equals the same KL by an
    independent quadrature over p_1 (``start_kl``), to 1e-3 relative plus
    1e-6: 0.59 nats at sigma = 1, 1e-5 at sigma = 80."""
    proc = process.Diffusion(sigma)
    gauss = data.gaussian([1.0, -0.5], 0.6)
    v = (0.6**2 + sigma**2) / sigma**2
    closed = (v - 1 - np.log(v)) + 1.25 / (2 * sigma**2)  # d/2 (v - 1 - log v) + |m|^2 / (2 sigma^2), d = 2
    for dist, expected in ((gauss, closed), (MIXTURE, None)):
        nodes, weights = hermite_nodes(dist)
        log_q = likelihood.log_likelihood(likelihood.exact_field(proc, dist), proc, nodes, steps, T_TINY)
        by_ode = weights @ (likelihood.log_density(dist, nodes) - log_q)
        by_start = likelihood.start_kl(dist, proc)
        expected = by_start if expected is None else expected
        assert abs(by_ode - expected) < 1e-3 * expected + 1e-6
        assert abs(by_start - expected) < 1e-3 * expected + 1e-6
    assert likelihood.start_kl(MIXTURE, process.LinearFlow(1.0)) == 0.0  # a flow starts from its own p_1


@pytest.mark.parametrize(
    "dist, proc",
    [
        (data.gaussian([MEAN], STD), process.Diffusion(SIGMA)),
        (MIXTURE, process.Diffusion(1.0)),
        (MIXTURE, process.Diffusion(80.0)),
        (MIXTURE, process.LinearFlow(1.0)),
    ],
)
def test_the_default_grid_has_converged(dist, proc):
    """Doubling the default steps (64 -> 128) changes no point's log q by
    1e-3 nats on the oracle cases, from the smallest time a network is
    trained to (noise level 1e-4)."""
    x = dist.sample(200, np.random.default_rng(3))
    field = likelihood.exact_field(proc, dist)
    t_min = float(proc.t_of_level(1e-4))
    one, two = (
        likelihood.log_likelihood(field, proc, x, s, t_min) for s in (likelihood.STEPS, 2 * likelihood.STEPS)
    )
    assert np.abs(one - two).max() < 1e-3


@pytest.mark.parametrize(
    "sigma_t, alpha", [(1e-3, 1.0), (0.3, 1.0), (80.0, 1.0), (0.4, 0.6), (0.99, 0.01), (1.0, 0.0)]
)
def test_mixture_trace_is_the_jacobian_of_the_posterior_mean(sigma_t, alpha):
    """``mixture_terms``: D is ``posterior_mean`` (to rounding) and the trace
    is the central difference of it (step 1e-5 sigma_t-scaled; truncation
    error h^2 |D'''| ~ 1e-9 relative), including a flow's alpha < 1 and t = 1."""
    x = 2 * np.random.default_rng(4).standard_normal((50, 2))
    den, trace = likelihood.mixture_terms(MIXTURE, x, sigma_t, alpha)
    np.testing.assert_allclose(den, MIXTURE.posterior_mean(x, sigma_t, alpha), rtol=0, atol=1e-12)
    h = 1e-5 * max(sigma_t, 1e-2)
    fd = sum(
        (
            MIXTURE.posterior_mean(x + h * e, sigma_t, alpha)
            - MIXTURE.posterior_mean(x - h * e, sigma_t, alpha)
        )[:, j]
        / (2 * h)
        for j, e in enumerate(np.eye(2))
    )
    np.testing.assert_allclose(trace, fd, rtol=1e-6, atol=1e-6)


SPIRAL = data.Spiral(turns=3, noise=0.1)


def brute_log_density(dist, x, sigma_t=0.0, alpha=1.0, n=1_000_000):
    """The curve law's log-density by the midpoint rule on ``n`` angles, one row at a time."""
    curve = dist.curve
    points = curve.point(curve.lo + (curve.hi - curve.lo) * (np.arange(n) + 0.5) / n)
    v = (alpha * dist.noise_std) ** 2 + sigma_t**2
    out = []
    for row in x:
        e = -((row - alpha * points) ** 2).sum(1) / (2 * v)
        out.append(e.max() + np.log(np.mean(np.exp(e - e.max()))) - np.log(2 * np.pi * v))
    return np.array(out)


def test_spiral_density_matches_brute_force_and_integrates_to_one():
    """The spiral's density (a Gaussian of std 0.1 around each curve point,
    averaged over the angle) by the Gauss-Legendre rule of ``curve_mixture``
    against the midpoint rule on 10^6 angles (its own error ~1e-8), to 1e-6
    nats, on the data, off it and at the curve's ends, at t = 0 and noised;
    and it integrates to 1 over a grid of spacing 0.05 on [-4, 4]^2 (the
    trapezoid rule's error on a Gaussian of std 0.1 is 2 exp(-2 pi^2 (0.1 /
    0.05)^2) ~ 1e-34; the mass beyond the box, 5 stds from the curve, 3e-7)
    to 1e-6."""
    rng = np.random.default_rng(5)
    x = np.vstack(
        [
            SPIRAL.sample(6, rng),
            rng.uniform(-3.5, 3.5, (4, 2)),
            SPIRAL.curve.point(np.array([0.0, 6 * np.pi])),
        ]
    )
    for sigma_t, alpha in ((0.0, 1.0), (0.3, 0.8)):
        got = likelihood.log_density(SPIRAL, x, sigma_t, alpha)
        np.testing.assert_allclose(got, brute_log_density(SPIRAL, x, sigma_t, alpha), rtol=0, atol=1e-6)
    h = 0.05
    g = np.arange(-4 + h / 2, 4, h)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    assert abs(np.exp(likelihood.log_density(SPIRAL, grid)).sum() * h * h - 1) < 1e-6


def test_spiral_exact_flow_recovers_its_density():
    """The spiral's exact denoiser under the flow from N(0, 1) (the mixture of
    its quadrature nodes): no start mismatch, so log q is log p to the ODE's
    error, 1e-3 nats; and the KL with its standard error is ~0."""
    proc = process.LinearFlow(1.0)
    x = SPIRAL.sample(100, np.random.default_rng(6))
    log_q = likelihood.log_likelihood(likelihood.exact_field(proc, SPIRAL), proc, x, t_min=1e-4)
    log_p = likelihood.log_density(SPIRAL, x)
    np.testing.assert_allclose(log_q, log_p, rtol=0, atol=1e-3)
    kl = likelihood.kl_divergence(log_p, log_q)
    assert abs(kl["kl"]) < 1e-4 and kl["se"] < 1e-4 and kl["outside"] == 0


def test_an_annulus_source_has_no_density_off_its_ring():
    """The annulus's density integrates to 1 (grid of spacing 0.01, to 1e-3:
    the ring's edges cut grid cells) and is zero off the ring; a KL against it
    is infinite and is never reported as a number."""
    proc = process.flow({"kind": "annulus", "inner": 2.5, "outer": 3.0})
    h = 0.01
    g = np.arange(-3.2 + h / 2, 3.2, h)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    log_s = likelihood.source_log_density(proc, grid)
    assert abs(np.exp(log_s).sum() * h * h - 1) < 1e-3
    assert np.isneginf(likelihood.source_log_density(proc, np.array([[0.0, 0.0], [4.0, 0.0]]))).all()
    assert likelihood.kl_divergence([0.0, 0.0], [-1.0, -np.inf]) == {"kl": None, "se": None, "outside": 1}
    with pytest.raises(ValueError, match="Gaussian source"):
        likelihood.exact_field(proc, SPIRAL)


def test_network_jacobian_trace_is_exact(tmp_path):
    """A tiny network (learn.train for 2 steps: random weights, 3 octaves):
    the torch trace (jacrev under vmap) equals central differences of the
    network in float64 (step 1e-6: the ReLU layers are linear between kinks,
    the features analytic; error ~1e-9), and after a save and a load the numpy
    forward-mode trace and value equal torch's to float32 rounding."""
    torch = pytest.importorskip("torch")
    from stepdiff import learn, network

    torch.set_num_threads(1)
    x0 = SPIRAL.sample(256, np.random.default_rng(7))
    for proc in (process.LinearFlow(1.0), process.Diffusion(5.0)):
        model, _ = learn.train(
            x0,
            proc,
            hidden=16,
            layers=2,
            n_freqs=4,
            octaves=3,
            steps=2,
            batch_size=32,
            lr=1e-3,
            t_min=1e-4,
            seed=0,
            log=lambda s: None,
        )
        wide = copy.deepcopy(model).double()
        x = 1.5 * np.random.default_rng(8).standard_normal((40, 2))
        for t in (1e-3, 0.3, 1.0):
            den, trace = likelihood.torch_field(wide)(x, t)

            def forward(y, wide=wide, t=t):
                with torch.no_grad():
                    return wide(torch.as_tensor(y), torch.full((len(y), 1), t, dtype=torch.float64)).numpy()

            h = 1e-6
            fd = sum(
                (forward(x + h * e) - forward(x - h * e))[:, j] / (2 * h) for j, e in enumerate(np.eye(2))
            )
            np.testing.assert_allclose(den, forward(x), rtol=0, atol=1e-12)
            np.testing.assert_allclose(trace, fd, rtol=1e-6, atol=1e-6)
        path = tmp_path / f"{proc.kind}.npz"
        learn.save(model, path, {})
        numpy_net, torch_net = network.load(path), learn.load(path)
        for t in (1e-3, 0.3, 1.0):
            mine = likelihood.field_of(numpy_net)(x, t)
            theirs = likelihood.field_of(torch_net)(x, t)
            np.testing.assert_allclose(mine[0], theirs[0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(mine[1], theirs[1], rtol=1e-4, atol=1e-4)


SPIRAL_SECTION = {"kind": "spiral", "n": 300, "turns": 1, "noise": 0.2}


def shared_spec():
    """A likelihood section whose two spiral sets, a flow and a diffusion, name one shared network."""
    return {
        "sets": {
            "flow": {"data": SPIRAL_SECTION, "source": {"kind": "gaussian", "std": 1.0}, "network": "spiral"},
            "wide": {"data": SPIRAL_SECTION, "sigma": 20.0, "network": "spiral"},
        },
        "level_min": 1e-3,
        "steps": 4,
        "n_samples": 40,
        "map_size": 4,
        "seed": 1,
    }


NETWORKS = {"spiral": {"data": SPIRAL_SECTION, "seed": 2, "levels": [1e-3, 20.0]}}


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c["networks"].clear(), r"lik\.sets\.flow\.network: no network 'spiral'"),
        (
            lambda c: c["networks"]["spiral"]["data"].update(turns=2),
            r"lik\.sets\.flow\.network: .*other data",
        ),
        (
            lambda c: c["networks"]["spiral"].update(levels=[0.01, 20.0]),
            r"lik\.sets\.flow\.network: .*level_min",
        ),
    ],
)
def test_a_set_names_a_shared_network_it_can_use(change, key):
    config = {"networks": copy.deepcopy(NETWORKS)}
    study.check(shared_spec(), "lik", config)  # as it is: accepted
    change(config)
    with pytest.raises(ConfigError, match=key):
        study.check(shared_spec(), "lik", config)


def test_one_shared_network_scores_the_flow_and_the_diffusion(tmp_path):
    """Both sets get the learned model's KL from the one network, each under
    its own process (``serving``): the flow's equals scoring the network served
    as the flow's denoiser directly."""
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    torch.set_num_threads(1)
    model = dict(hidden=16, layers=2, n_freqs=2, steps=30, batch_size=64, lr=3e-3)
    task = shared_training({**NETWORKS["spiral"], "model": model}, "spiral")
    trained, _, _ = learn.fit(task, log=lambda *_: None)
    learn.save(trained, tmp_path / "n.npz", {})
    net = network.load(tmp_path / "n.npz")
    spec = shared_spec()
    rows, _ = study.run(spec, "lik", {}, {"spiral": net})
    kl = {r["set"]: r["value"] for r in rows if r["denoiser"] == "learned" and r["metric"] == "kl"}
    assert set(kl) == {"flow", "wide"} and all(np.isfinite(v) for v in kl.values())
    flow = process.from_config(spec["sets"]["flow"])
    dist = data.from_config(SPIRAL_SECTION)
    test = dist.sample(spec["n_samples"], rng_for(spec["seed"], "lik", "test", "flow"))
    t_min = float(flow.t_of_level(spec["level_min"]))
    log_q = likelihood.log_likelihood(net.serving(flow).terms, flow, test, spec["steps"], t_min)
    expected = likelihood.kl_divergence(likelihood.log_density(dist, test), log_q)["kl"]
    assert kl["flow"] == expected


@pytest.mark.parametrize("proc", [process.Diffusion(3.0), process.LinearFlow(1.5)], ids=["diffusion", "flow"])
def test_each_process_inverts_its_ode_time_and_knows_its_gaussian_start(proc):
    """``t_of_tau`` inverts ``tau`` (the likelihood's ODE runs in tau), and a
    Gaussian start's log density is scipy's N(0, scale^2 I)."""
    from scipy.stats import multivariate_normal

    t = np.array([1e-6, 0.01, 0.5, 1.0])
    np.testing.assert_allclose(proc.t_of_tau(proc.tau(t)), t, rtol=1e-12)
    x = np.random.default_rng(3).standard_normal((50, 2)) * 2
    want = multivariate_normal(np.zeros(2), proc.scale**2 * np.eye(2)).logpdf(x)
    np.testing.assert_allclose(proc.source_log_density(x), want, rtol=1e-12)
