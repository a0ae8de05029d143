"""The learned denoiser: it finds E[x0 | x_t] where that is known exactly."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stepdiff import data, learn, network  # noqa: E402
from stepdiff.process import Diffusion, exact_denoiser, flow  # noqa: E402
from stepdiff.seeds import rng_for  # noqa: E402

SIGMA = 1.0
DIST = data.gaussian([1.0, -0.5], 0.3)
HYPER = dict(hidden=64, layers=2, n_freqs=4, batch_size=512, lr=3e-3, t_min=1e-4)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    x0 = DIST.sample(20_000, rng_for(0, "train"))
    model, losses = learn.train(x0, Diffusion(SIGMA), steps=600, seed=0, log=lambda *_: None, **HYPER)
    return x0, model, losses


@pytest.fixture(scope="module")
def sampled_denoiser(trained, tmp_path_factory):
    """The trained model as the sampling jobs see it: saved, then read back by ``network``."""
    path = tmp_path_factory.mktemp("model") / "denoiser.npz"
    learn.save(trained[1], path, {})
    return network.load(path)


@pytest.mark.parametrize("t", [1e-3, 1e-2, 0.1, 0.5, 1.0])
def test_learned_denoiser_matches_the_gaussian_posterior_mean(trained, sampled_denoiser, t):
    """Tolerance: the RMS error to the exact denoiser must be under a fifth of
    the posterior spread of x0 given x_t (the error no denoiser can remove),
    i.e. at most 4% excess over the Bayes risk; and under a quarter of the
    error of the bare skip connection (F = 0), so the network did the work."""
    _, model, _ = trained
    rng = np.random.default_rng(1)
    sigma_t = SIGMA * np.sqrt(t)
    xt = DIST.sample(4000, rng) + sigma_t * rng.standard_normal((4000, 2))
    exact = exact_denoiser(Diffusion(SIGMA), DIST)(xt, t)
    rms = np.sqrt(((sampled_denoiser(xt, t) - exact) ** 2).sum(1).mean())
    s2 = DIST.stds[0] ** 2
    posterior_spread = np.sqrt(2 * s2 * sigma_t**2 / (s2 + sigma_t**2))
    c_skip = model.scalings(torch.tensor([[t]]))[0].item()
    skip_rms = np.sqrt(((c_skip * xt - exact) ** 2).sum(1).mean())
    assert rms < 0.2 * posterior_spread
    assert rms < 0.25 * skip_rms


def test_training_is_reproducible(trained):
    x0, model, losses = trained
    again, losses2 = learn.train(x0, Diffusion(SIGMA), steps=600, seed=0, log=lambda *_: None, **HYPER)
    np.testing.assert_array_equal(losses, losses2)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_divergence_names_the_step():
    x0 = DIST.sample(1000, rng_for(0, "nan"))
    x0[:] = np.nan
    with pytest.raises(FloatingPointError, match="at step 0"):
        learn.train(x0, Diffusion(SIGMA), steps=5, seed=0, log=lambda *_: None, **HYPER)


def test_save_load_round_trip_and_architecture_check(trained, tmp_path):
    _, model, _ = trained
    path = tmp_path / "denoiser.npz"
    learn.save(model, path, {"note": "test"})
    loaded = learn.load(path, {"hidden": 64, "layers": 2, "n_freqs": 4})
    x = torch.randn(10, 2)
    t = torch.full((10, 1), 0.3)
    assert torch.equal(model(x, t), loaded(x, t))
    with pytest.raises(ValueError, match="architecture"):
        learn.load(path, {"hidden": 128, "layers": 2, "n_freqs": 4})
    assert [p.name for p in tmp_path.iterdir()] == ["denoiser.npz"]  # no temporary file left
    saved = network.read(path)
    assert saved.config == {"note": "test"} and saved.sigma_data == model.sigma_data
    assert saved.process == model.process and saved.arch == model.arch


PROCESSES = {
    "diffusion": Diffusion(2.0),
    "gaussian flow": flow({"kind": "gaussian", "std": 1.0}),
    "annulus flow": flow({"kind": "annulus", "inner": 2.5, "outer": 3.0}),
}


def test_the_numpy_network_does_not_import_torch():
    """Sampling jobs load the network without torch's import (over a second each)."""
    code = "import sys, stepdiff.network; assert 'torch' not in sys.modules, 'torch was imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_device_is_what_the_config_says():
    """No guessing: the device changes the weights, so it is a setting."""
    assert learn.pick_device("cpu").type == "cpu"
    if torch.cuda.is_available():
        assert learn.pick_device("cuda").type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="model.device is cuda"):
            learn.pick_device("cuda")


def test_every_torch_rule_carries_its_thread_count_as_a_param():
    """Torch sums in another order on another thread count, so the weights
    differ (1 against 2 threads, 100 steps of exp3's recipe: up to 0.03): a
    training job's threads are a param, and --set-threads reruns it."""
    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    torch_rules = []
    for smk in rules.glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            if "torch.yaml" in block:
                torch_rules.append(block.split(":", 1)[0])
                assert "threads=torch_threads" in block, block.split(":", 1)[0]
    assert sorted(torch_rules) == ["study_train", "train", "train_network"]


@pytest.mark.parametrize(
    "proc", [Diffusion(80.0), flow({"kind": "gaussian", "std": 1.0})], ids=["diffusion", "flow"]
)
def test_each_target_makes_the_network_learn_what_its_name_says(proc):
    """``F``'s regression target ``(x0 - c_skip x) / c_out``, exactly: the noise
    for ``eps``, ``x0 / sigma_data`` for ``x0_raw``, and for ``x0`` a mix of unit
    variance at every level when the data has variance ``sigma_data^2`` (so
    for ``v`` when it has unit variance): Karras et al.'s condition, here with
    a standard error from 200 000 draws (the relative error of a variance is
    about sqrt(2 / n) = 0.003; the tolerance is 5 of those)."""
    rng = np.random.default_rng(0)
    n, sd = 200_000, 0.4
    t = np.geomspace(1e-6, 0.95, 13)[:, None, None] * np.ones((1, n, 1))
    x0, eps = sd * rng.standard_normal((1, n, 1)), rng.standard_normal((1, n, 1))
    alpha, sigma_t = proc.path(t)
    x = alpha * x0 + sigma_t * eps

    def target(name, sigma_data=sd, data=x0):
        c_skip, c_out, *_ = network.scalings(proc, sigma_data, t, np, name)
        return (data - c_skip * (alpha * data + sigma_t * eps)) / c_out

    if proc.kind == "diffusion":  # eps divides by alpha_t: refused for flows
        np.testing.assert_allclose(target("eps"), eps * np.ones_like(t), rtol=0, atol=1e-9)
    np.testing.assert_allclose(target("x0_raw"), x0 / sd * np.ones_like(t), rtol=0, atol=1e-12)
    np.testing.assert_allclose(target("x0").var(axis=1), 1.0, rtol=5 * np.sqrt(2 / n))
    unit = x0 / sd  # data of unit variance: v is x0's target with sigma_data = 1
    np.testing.assert_allclose(target("v", data=unit).var(axis=1), 1.0, rtol=5 * np.sqrt(2 / n))
    np.testing.assert_allclose(x, alpha * x0 + sigma_t * eps)  # the path the targets assume


def test_an_unknown_target_names_the_key():
    with pytest.raises(ValueError, match="model.target.*x0_raw"):
        learn.Denoiser(2, target="score")


def test_the_average_of_the_weights_decays_as_configured():
    """``ema`` is the decay per step: near 0 the average is the last weights,
    near 1 it has barely left where it starts, the weights after the first
    step (Adam's first step moves each weight by the learning rate, the
    one-cycle schedule's first, lr / 25); 0 trains no average at all."""
    torch.set_num_threads(1)
    x0 = DIST.sample(2000, rng_for(0, "ema"))
    small = dict(hidden=8, layers=1, n_freqs=2, batch_size=64, lr=1e-2, t_min=1e-4, steps=30, seed=0)

    def weights(**extra):
        model, _ = learn.train(x0, Diffusion(SIGMA), log=lambda *_: None, **small, **extra)
        return model.state_dict()["net.0.weight"].numpy()

    torch.manual_seed(0)
    initial = (
        learn.Denoiser(2, 8, 1, 2, Diffusion(SIGMA), float(x0.std())).state_dict()["net.0.weight"].numpy()
    )
    last = weights()
    np.testing.assert_array_equal(weights(ema=0.0), last)
    np.testing.assert_allclose(weights(ema=1e-12), last, rtol=0, atol=1e-6)
    stayed = weights(ema=1 - 1e-9)  # 29 updates move the average by 3e-8 of the way
    assert np.abs(stayed - initial).max() <= small["lr"] / 25 * (1 + 1e-3)
    assert np.abs(last - initial).max() > 1e-2  # the weights themselves moved


def test_the_pseudo_huber_loss_fits_the_median_where_mse_fits_the_mean():
    """At a flow's t = 1 with independent partners ``D(z, 1)`` learns nothing
    of ``x0`` from ``z``: the mse minimiser is ``E[x0]``, the pseudo-Huber
    one (``delta`` small against the spread) the geometric median. ``x0`` is
    (1, 0) with probability 0.7 and (-1, 0) otherwise: mean (0.4, 0), median
    (1, 0); 0.3 apart, ten times what 8000 draws leave of either. An
    unknown loss is refused naming the key."""
    from stepdiff.process import LinearFlow

    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    x0 = np.column_stack([np.where(rng.random(8000) < 0.7, 1.0, -1.0), np.zeros(8000)])
    z = rng.standard_normal((8000, 2))
    recipe = dict(hidden=32, layers=2, n_freqs=2, steps=400, batch_size=512, lr=0.01, t_min=0.01, t_fixed=1.0)
    fit = {}
    for loss in ("mse", "pseudo_huber"):
        model, _ = learn.train(x0, LinearFlow(1.0), seed=0, x1=z, log=lambda *_: None, loss=loss, **recipe)
        with torch.no_grad():
            zz = torch.as_tensor(z[:1000], dtype=torch.float32)
            fit[loss] = model(zz, torch.ones((1000, 1))).mean(0).numpy()
    np.testing.assert_allclose(fit["mse"], [0.4, 0.0], atol=0.1)
    np.testing.assert_allclose(fit["pseudo_huber"], [1.0, 0.0], atol=0.1)
    with pytest.raises(ValueError, match=r"model\.loss: unknown loss 'l1'"):
        learn.train(x0, LinearFlow(1.0), seed=0, x1=z, log=lambda *_: None, loss="l1", **recipe)
