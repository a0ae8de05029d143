"""One denoiser for every process (docs/theory.md section 18): E[x0 | x_t] is
D(x_t / alpha_t, sigma_t / alpha_t) for the diffusion and the flow alike, for
the exact denoiser and for a shared network; and the config's networks
section is checked before any job."""

import copy

import numpy as np
import pytest
from conftest import load_test_config

from stepdiff import config, data, network, process
from stepdiff.registry import ConfigError

ROLL = data.SwissRoll(scale=0.07)
FLOW = process.flow({"kind": "gaussian", "std": 1.0})


def level_of(proc, t):
    alpha, sigma = proc.path(t)
    return alpha, sigma / alpha


@pytest.mark.parametrize("proc", [FLOW, process.Diffusion(1.0), process.Diffusion(80.0)])
def test_the_exact_denoiser_is_one_function_of_the_level(proc):
    """Every process's exact denoiser at t is the roll's posterior mean of
    y = x / alpha_t at level s = sigma_t / alpha_t: the change of variables
    exactly, up to the curve quadrature's own error (1e-3 of the level,
    tests/test_curve.py)."""
    exact = process.exact_denoiser(proc, ROLL)
    rng = np.random.default_rng(0)
    for t in (0.02, 0.3, 0.8):
        alpha, s = level_of(proc, t)
        x = alpha * ROLL.sample(400, rng) + alpha * s * rng.standard_normal((400, 2))
        np.testing.assert_allclose(exact(x, t), ROLL.posterior_mean(x / alpha, s, 1.0), atol=2e-3 * s)


@pytest.fixture(scope="module")
def shared(tiny_network):
    """The suite's tiny shared network: levels [0.01, 100] of the roll."""
    task, path = tiny_network
    return task, network.load(path)


def test_a_shared_network_trains_over_its_levels(shared):
    task, net = shared
    assert task.process.describe() == process.Diffusion(100.0).describe()
    assert task.recipe["t_min"] == pytest.approx((0.01 / 100.0) ** 2)  # level 0.01 at sigma 100
    assert task.x0.shape == (2000, 2)
    assert net.level_max == pytest.approx(100.0)


@pytest.mark.parametrize("user", [FLOW, process.Diffusion(1.0), process.Diffusion(3.0)])
def test_a_shared_network_serves_any_process_through_the_levels(shared, user):
    """The network serving ``user`` at t equals the network under its own
    diffusion at the same level s, on y = x / alpha_t: in float32, to its
    rounding; above its largest level (s > 100, the flow near t = 1) both hold
    the noise embedding there."""
    _, net = shared
    served = net.serving(user)
    own = net.process  # the diffusion at sigma = 100
    rng = np.random.default_rng(1)
    for t in (0.001, 0.1, 0.5, 0.95, 0.995):
        alpha, s = level_of(user, t)
        x = alpha * ROLL.sample(200, rng) + alpha * s * rng.standard_normal((200, 2))
        t_own = float(own.t_of_level(s))  # above 1 where s > 100: path() still gives level s
        np.testing.assert_allclose(served(x, t), net(x / alpha, t_own), rtol=1e-4, atol=1e-5 * (1 + s))
    assert net.serving(own) is net  # its own process: itself, bit for bit


def test_a_shared_networks_section_is_checked():
    cfg = load_test_config()
    for change, key in [
        (
            lambda c: c["experiments"]["roll"].update(network="nosuch"),
            r"experiments\.roll\.network: no network",
        ),
        (lambda c: c["networks"]["tinyroll"].update(levels=[1.0, 0.1]), r"networks\.tinyroll\.levels"),
        (lambda c: c["networks"]["tinyroll"]["data"].pop("n"), r"networks\.tinyroll\.data\.n"),
    ]:
        broken = copy.deepcopy(cfg)
        change(broken)
        with pytest.raises(ConfigError, match=key):
            config.check_config(broken)


def test_each_user_of_a_network_gets_its_recipe_and_its_own_t_min():
    cfg = load_test_config()
    config.check_config(cfg)
    config.check_config(cfg)  # idempotent: the resolved model is the network's
    net = cfg["networks"]["tinyroll"]
    roll, flow = cfg["experiments"]["roll"], cfg["experiments"]["rollflow"]
    for exp in (roll, flow):
        assert {k: v for k, v in exp["model"].items() if k != "t_min"} == net["model"]
    assert roll["model"]["t_min"] == pytest.approx((0.01 / 1.0) ** 2)  # sigma = 1: level 0.01
    assert flow["model"]["t_min"] == pytest.approx(0.01 / 1.01)  # t / (1 - t) = 0.01
