"""Classifier-free guidance (docs/theory.md section 15): the guided samplers'
exact laws on labelled Gaussian data, the tilted law they do not sample, the
ring's tilted law on a grid, the paired energy gap, the conditional network
and the study's table."""

import math

import numpy as np
import pytest
from conftest import grid_times

from stepdiff import guidance, laws, metrics, network, runner
from stepdiff.data import gaussian
from stepdiff.guidance import LabelledGaussian, Ring
from stepdiff.metrics import energy_distance_se
from stepdiff.process import Diffusion, LinearFlow, exact_denoiser
from stepdiff.registry import ConfigError
from stepdiff.seeds import rng_for
from stepdiff.studies import guidance as study

MODEL = LabelledGaussian(label=1.0, std=0.5, label_std=1.0)
SIGMA = 10.0
PROC = Diffusion(SIGMA)
N_SIGMA = 5  # a statistical check fails by chance less than once in a million


def recursion(model, g, sigma, label, steps):
    """The direct computation of the guided DDPM or DDIM law: ``D_g = A x + B``
    with ``A = (1 - g) k_u + g k_c``, ``B = g c (1 - k_c)`` (``k = s^2 / (s^2 +
    sigma_t^2)``), so a step is ``x <- x + r (A x + B - x)`` (+ noise), with
    ``r = dt / t`` (DDPM) or ``1 - sigma_s / sigma_t`` (DDIM)."""
    name, grid = label.partition("_")[::2]
    ts = grid_times(steps, grid or "uniform")
    m, v = 0.0, sigma**2
    for t, s in zip(ts[:-1], ts[1:]):
        var_t = sigma**2 * t
        k_c, k_u = model.std**2 / (model.std**2 + var_t), model.total_std**2 / (model.total_std**2 + var_t)
        a, b = (1 - g) * k_u + g * k_c, g * model.label * (1 - k_c)
        r = (t - s) / t if name == "ddpm" else 1 - math.sqrt(s / t)
        m, v = m + r * (a * m + b - m), (1 - r + r * a) ** 2 * v
        if name == "ddpm":
            v += sigma**2 * (t - s)
    return m, math.sqrt(v)


def test_guided_denoiser_convention():
    """g = 0 is the unconditional denoiser, g = 1 the conditional one, and g
    extrapolates linearly along D_c - D_u."""
    x = np.linspace(-3, 3, 7)[:, None]
    cond, uncond = MODEL.guided_denoiser(PROC, 1.0), MODEL.guided_denoiser(PROC, 0.0)
    assert np.array_equal(cond(x, 0.3), exact_denoiser(PROC, gaussian(1.0, 0.5))(x, 0.3))
    assert np.array_equal(uncond(x, 0.3), exact_denoiser(PROC, gaussian(0.0, MODEL.total_std))(x, 0.3))
    np.testing.assert_allclose(
        MODEL.guided_denoiser(PROC, 3.0)(x, 0.3), 3 * cond(x, 0.3) - 2 * uncond(x, 0.3), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("label", ["ddim", "ddpm", "ddim_karras", "ddpm_sigma"])
@pytest.mark.parametrize("g", [0.0, 0.5, 3.0, 7.0])
def test_probe_law_equals_the_direct_recursion(label, g):
    """The probe rows run through the real sampler code give the law the
    scalar recursion gives: both are exact, so they agree to rounding."""
    steps = 60
    probe = laws.affine_law(MODEL.guided_denoiser(PROC, g), PROC, label, steps)
    np.testing.assert_allclose(probe, recursion(MODEL, g, SIGMA, label, steps), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("label", ["ddim", "ddpm", "heun_karras"])
def test_probe_law_at_g_0_and_1_is_the_unguided_law(label):
    """At g = 1 (0) the guided denoiser is the conditional (unconditional)
    Gaussian's: the probe law is ``laws.gaussian_law`` of that Gaussian."""
    for g, (mean, std) in ((1.0, (1.0, 0.5)), (0.0, (0.0, MODEL.total_std))):
        got = laws.affine_law(MODEL.guided_denoiser(PROC, g), PROC, label, 40)
        assert got == pytest.approx(laws.gaussian_law(mean, std, PROC, label, 40), abs=1e-12)


@pytest.mark.parametrize(
    "label, proc", [("ddim_sigma", PROC), ("ddpm", PROC), ("heun_karras", PROC), ("euler", LinearFlow(1.0))]
)
def test_sampled_moments_match_the_closed_form_law(label, proc):
    """20 000 guided samples at g = 3: mean within 5 standard errors
    (``std / sqrt(n)``) and std within 5 (``std / sqrt(2 (n - 1))``, exact for
    Gaussian samples, which these are) of the probe law; the flow's Euler
    step has the same exact law, from its own source."""
    n, g, steps = 20_000, 3.0, 30
    denoiser = MODEL.guided_denoiser(proc, g)
    mean, std = laws.affine_law(denoiser, proc, label, steps)
    rng = np.random.default_rng(21)
    x = runner.run(denoiser, proc, label, steps, proc.source(n, 1, rng), rng)[:, 0]
    assert abs(x.mean() - mean) < N_SIGMA * std / math.sqrt(n)
    assert abs(x.std(ddof=1) - std) < N_SIGMA * std / math.sqrt(2 * (n - 1))


def test_the_samplers_converge_to_the_ode_and_sde_limits():
    """DDIM and DDPM on the sigma grid are first order towards the guided
    ODE and SDE laws (the error halves when the steps double), Heun second
    order (a quarter): the limits are the samplers' own, not the tilted law."""
    for label, limit, order in (
        ("ddim_sigma", MODEL.ode_law, 2),
        ("ddpm_sigma", MODEL.sde_law, 2),
        ("heun_sigma", MODEL.ode_law, 4),
    ):
        for g in (0.5, 3.0):
            exact = np.array(limit(g, SIGMA))
            errors = [
                np.abs(
                    np.array(laws.affine_law(MODEL.guided_denoiser(PROC, g), PROC, label, n)) - exact
                ).max()
                for n in (200, 400)
            ]
            assert errors[0] / errors[1] == pytest.approx(order, rel=0.1), (label, g, errors)


def test_the_right_start_gives_the_data_law_at_g_0_and_1():
    """From ``p_1`` (``p_1(. | c)`` for g = 1) the ODE carries the start onto
    the data law exactly, and DDIM approaches it as 1/steps; the tilted law at
    g = 0, 1 is that data law."""
    for g, law in ((0.0, (0.0, MODEL.total_std)), (1.0, (1.0, 0.5))):
        start = MODEL.p1(g, SIGMA)
        assert MODEL.ode_law(g, SIGMA, start) == pytest.approx(law, abs=1e-9)
        assert MODEL.tilted(g) == pytest.approx(law, abs=1e-12)
        errors = [
            np.abs(
                np.subtract(
                    laws.affine_law(MODEL.guided_denoiser(PROC, g), PROC, "ddim_sigma", n, start=start),
                    law,
                )
            ).max()
            for n in (500, 1000, 2000)
        ]
        assert errors[2] < 2.5e-3 and errors[0] / errors[1] == pytest.approx(2, rel=0.05)
        assert errors[1] / errors[2] == pytest.approx(2, rel=0.05)


def test_guided_laws_are_not_the_tilted_law():
    """Away from g = 0, 1 the guided ODE and SDE land elsewhere than the
    tilted law, by far more than any start effect (sigma = 1000: below 1e-5),
    and apart from each other; the ODE's std tends to ``S^(1-g) s^g``, the
    tilted law's is ``(g / s^2 + (1 - g) / S^2)^(-1/2)``."""
    sigma = 1000.0
    s, total = MODEL.std, MODEL.total_std
    for g in (0.5, 2.0, 3.0, 7.0):
        tilted, ode, sde = MODEL.tilted(g), MODEL.ode_law(g, sigma), MODEL.sde_law(g, sigma)
        assert tilted[1] == pytest.approx((g / s**2 + (1 - g) / total**2) ** -0.5, rel=1e-12)
        assert ode[1] == pytest.approx(total ** (1 - g) * s**g, rel=1e-5)
        for law in (ode, sde):
            assert max(abs(law[0] - tilted[0]), abs(law[1] - tilted[1])) > 0.05
        assert max(abs(ode[0] - sde[0]), abs(ode[1] - sde[1])) > 0.05


def test_gaussian_table_rows():
    """The table's gaps are to the tilted law, and its sampler rows are the probe laws."""
    rows = study.gaussian_table(MODEL, SIGMA, [0.0, 3.0], [("ddim_sigma", 50)])
    assert [(r["scale"], r["law"]) for r in rows] == [
        (g, law) for g in (0.0, 3.0) for law in ("tilted", "ode", "sde", "ddim_sigma")
    ]
    for r in rows:
        tilted = MODEL.tilted(r["scale"])
        assert r["mean_gap"] == pytest.approx(r["mean"] - tilted[0]) and r["std_gap"] == pytest.approx(
            r["std"] - tilted[1]
        )
    ddim = rows[-1]
    assert (ddim["mean"], ddim["std"]) == laws.affine_law(
        MODEL.guided_denoiser(PROC, 3.0), PROC, "ddim_sigma", 50
    )


RING = Ring(classes=8, radius=2.0, std=0.4)


def test_ring_sectors_partition_the_plane_and_the_denoisers_are_exact():
    """Each point lies in one sector; the conditional denoiser is one
    component's, and the unconditional one is their average under the class
    posterior ``pi_k(x) ~ N(x; a_k, (s^2 + sigma_t^2) I)`` (total expectation)."""
    rng = np.random.default_rng(2)
    x = 3 * rng.standard_normal((5000, 2))
    inside = np.stack([RING.in_sector(x, k) for k in range(RING.classes)])
    assert np.array_equal(inside.sum(0), np.ones(len(x)))
    t = 0.01
    var = RING.std**2 + PROC.tau(t) ** 2
    logits = -((x[:, None] - RING.means[None]) ** 2).sum(-1) / (2 * var)
    pi = np.exp(logits - logits.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    parts = np.stack([RING.denoisers(PROC, k)[0](x, t) for k in range(RING.classes)], axis=1)  # (n, K, 2)
    np.testing.assert_allclose(parts[:, 3], exact_denoiser(PROC, gaussian(RING.means[3], RING.std))(x, t))
    np.testing.assert_allclose(RING.denoisers(PROC, 0)[1](x, t), (pi[:, :, None] * parts).sum(1), atol=1e-12)


@pytest.mark.parametrize("g", [0.0, 1.0, 3.0])
def test_tilted_grid_agrees_with_the_exact_rejection_draw(g):
    """The grid's integrals (sector share, spread, mean) against an exact draw
    of the tilted law (rejection from p with acceptance pi_c^g): within 5
    standard errors (binomial; delta method; std / sqrt(n))."""
    n, k = 20_000, 0
    grid = guidance.tilted_grid(RING, k, g, cells=300)
    draw = RING.tilted_rejection(n, k, g, np.random.default_rng(3))
    exact = guidance.sector_stats(RING, grid.centres, k, grid.mass)
    sampled = guidance.sector_stats(RING, draw, k)
    assert abs(sampled["sector"] - exact["sector"]) < N_SIGMA * max(sampled["sector_se"], 1 / n)
    assert abs(sampled["spread"] - exact["spread"]) < N_SIGMA * sampled["spread_se"]
    mean = grid.mass.ravel() @ grid.centres
    assert np.all(np.abs(draw.mean(0) - mean) < N_SIGMA * draw.std(0) / math.sqrt(n))
    # and the grid's own draw: the same law, within the same errors
    x = grid.sample(n, np.random.default_rng(4))
    assert np.all(np.abs(x.mean(0) - mean) < N_SIGMA * x.std(0) / math.sqrt(n))
    if g == 0:  # the unconditional law: one class in eight, by symmetry, up to the cells cut by the edges
        assert exact["sector"] == pytest.approx(1 / 8, abs=edge_error(grid))


def edge_error(grid):
    """A bound on a grid's error in a sector's share: the mass within half a
    cell of its two edges, at most ``h / (2 pi R)`` for the ring's mass per
    unit length ``1 / (2 pi R)`` across each edge and cells of width ``h``."""
    return (grid.edges[1] - grid.edges[0]) / (2 * np.pi * RING.radius)


def test_energy_gap_is_the_difference_and_its_error_is_calibrated():
    """The value is ED(x, ref) - ED(y, ref); its error matches the spread of
    200 independent repeats within 25% (the spread's own relative error is
    1/sqrt(2 * 199) = 5%, so 25% is 5 of them)."""
    rng = np.random.default_rng(5)
    x, y, ref = rng.standard_normal((3, 300, 2))
    y = x + 0.1 * rng.standard_normal(x.shape) + [0.1, 0.0]
    value, _ = metrics.energy_gap(x, y, ref)
    assert value == pytest.approx(energy_distance_se(x, ref)[0] - energy_distance_se(y, ref)[0], abs=1e-12)
    assert metrics.energy_gap(x, x, ref) == (0.0, 0.0)
    values, errors = [], []
    for _ in range(200):
        x, ref = rng.standard_normal((2, 150, 2))
        y = 0.8 * x + [0.3, 0.0]
        v, e = metrics.energy_gap(x, y, ref)
        values.append(v)
        errors.append(e)
    assert np.std(values, ddof=1) == pytest.approx(np.mean(errors), rel=0.25)


@pytest.fixture(scope="module")
def tiny_network(tmp_path_factory):
    """A conditional network trained for a few steps: enough to test its file and forward pass."""
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    torch.set_num_threads(1)
    x0, labels = RING.sample(2000, np.random.default_rng(6))
    hyper = dict(hidden=16, layers=2, n_freqs=2, embed=4, octaves=1, steps=30, batch_size=64, lr=1e-3)
    model, losses = learn.train(
        x0,
        PROC,
        **hyper,
        labels=labels,
        classes=RING.classes,
        t_min=1e-4,
        p_null=0.1,
        seed=7,
        ema=0.9,
        log=lambda s: None,
    )
    path = tmp_path_factory.mktemp("net") / "denoiser.npz"
    learn.save(model, path, {})
    return model, path, np.all(np.isfinite(losses))


def test_numpy_forward_pass_equals_torch(tiny_network):
    import torch

    model, path, finite = tiny_network
    assert finite
    net = network.load(path)
    assert net.null == RING.classes
    x = 3 * np.random.default_rng(8).standard_normal((50, 2))
    for t in (1e-4, 0.01, 1.0):
        for label in (0, 5, RING.classes, None):
            torch_label = RING.classes if label is None else label
            with torch.no_grad():
                expected = model(
                    torch.tensor(x, dtype=torch.float32),
                    torch.full((50, 1), t),
                    torch.full((50,), torch_label, dtype=torch.long),
                ).numpy()
            np.testing.assert_allclose(net(x, t, label), expected, rtol=1e-5, atol=1e-5)


def test_a_damaged_conditional_file_names_itself(tmp_path):
    path = tmp_path / "denoiser.npz"
    np.savez(path, meta=np.array("{}"))
    with pytest.raises(ValueError, match=str(path)):
        network.load(path)


def spec(model=None):
    """A small guidance section: two scales, DDIM and DDPM on the karras grid."""
    out = {
        "seed": 0,
        "sigma": 10.0,
        "t_min": 1e-4,
        "scales": [0, 3],
        "n_samples": 400,
        "grid_cells": 200,
        "samplers": [
            {"name": "ddim", "grid": "karras", "steps": 20},
            {"name": "ddpm", "grid": "karras", "steps": 30},
        ],
        "ring": {"classes": 8, "radius": 2.0, "std": 0.4, "label": 0},
        "gaussian": {
            "label": 1.0,
            "std": 0.5,
            "label_std": 1.0,
            "scales": [0, 1, 3],
            "samplers": [{"name": "ddim", "grid": "sigma", "steps": 50}],
        },
    }
    if model is not None:
        out["model"] = model
    return out


def test_study_rows_and_arrays(tiny_network):
    """The study's run: closed-form rows equal the table, every ring run is
    scored against the tilted draw, and the network's runs share their starts
    with the exact ones (at g = 0 the tilted law is p, whose sector share is 1/8)."""
    _, path, _ = tiny_network
    rows, arrays = study.run(spec(), "g", {}, {"conditional": network.load(path)})
    assert all(set(r) == set(study.COLUMNS) for r in rows)
    closed = [r for r in rows if r["part"] == "gaussian"]
    assert len(closed) == 3 * 4 * 4  # scales x (tilted, ode, sde, ddim) x metrics
    ring = [r for r in rows if r["part"] == "ring"]
    tilted = {(r["scale"], r["metric"]): r["value"] for r in ring if r["denoiser"] == "tilted"}
    cells = guidance.tilted_grid(RING, 0, 0.0, spec()["grid_cells"])
    assert tilted[(0, "sector")] == pytest.approx(1 / 8, abs=edge_error(cells))
    learned = [r for r in ring if r["denoiser"] == "learned" and r["metric"] == "energy_to_exact"]
    assert len(learned) == 2 * 2 and all(r["se"] > 0 for r in learned)
    for g in ("0", "3"):
        assert (
            arrays[f"exact-g{g}-ddim_karras-20"].shape
            == arrays[f"learned-g{g}-ddim_karras-20"].shape
            == (400, 2)
        )
        assert arrays[f"path-g{g}-ddim_karras-20"].shape[1:] == (min(study.TRAJECTORIES, 400), 2)
    # one start for every scale: at g = 0 the exact run is the unconditional sampler's
    x1 = PROC.source(400, 2, rng_for(0, "g", "start", "ddim_karras", 20))
    uncond = runner.run(RING.denoisers(PROC, 0)[1], PROC, "ddim_karras", 20, x1, None, 1e-4)
    np.testing.assert_array_equal(arrays["exact-g0-ddim_karras-20"], uncond)


def test_study_check_names_the_key():
    with pytest.raises(ConfigError, match="g.samplers: euler is not a diffusion sampler"):
        study.check({**spec(), "samplers": [{"name": "euler", "steps": 10}]}, "g", {})
    with pytest.raises(ConfigError, match="g.scales"):
        study.check({**spec(), "scales": [-1, 0]}, "g", {})
    with pytest.raises(ConfigError, match="below t_min"):
        study.check(
            {**spec({"n_train": 10}), "samplers": [{"name": "ddim", "steps": 20}], "t_min": 0.1}, "g", {}
        )
    study.check(spec({"n_train": 10}), "g", {})


def test_figure_and_animation_draw_from_the_study_outputs(tiny_network, tmp_path):
    """The figure and the animation read only the table and the arrays (as the
    figure job does, after their round trip through the files): one panel per scale, one GIF frame
    per interpolated grid row of the first sampler's run."""
    import pandas as pd

    from stepdiff import animate
    from stepdiff.io import save_arrays, save_rows

    _, path, _ = tiny_network
    rows, arrays = study.run(spec(), "g", {}, {"conditional": network.load(path)})
    save_rows(tmp_path / "t.csv", rows, study.COLUMNS)
    save_arrays(tmp_path / "a.npz", arrays)
    with np.load(tmp_path / "a.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    study.figure(pd.read_csv(tmp_path / "t.csv"), arrays, {}, {}, {}, "g", str(tmp_path / "g.jpg"))
    assert (tmp_path / "g.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    frames = study.animation(arrays, "g", str(tmp_path / "g.gif"))
    assert frames == len(animate.frame_rows(len(arrays["rows-ddim_karras-20"])))
