"""The network's error against the exact denoiser (stepdiff.errors): exact
for known differences, over the trained range, and maps of the right shape."""

import numpy as np
import pandas as pd
import pytest

from stepdiff import data, errors, process


@pytest.mark.parametrize("proc", [process.Diffusion(1.0), process.LinearFlow(1.0)], ids=["diffusion", "flow"])
def test_the_error_curve_is_exact_for_a_known_difference(proc):
    """A "network" equal to the exact denoiser has error 0 at every level; one
    that adds a constant vector c has error |c|^2 exactly; the levels span
    the trained range, from t_min's level to t_max's."""
    dist = data.SwissRoll(scale=0.07)
    exact = process.exact_denoiser(proc, dist)
    x0 = dist.sample(300, np.random.default_rng(0))
    same = errors.error_curve(exact, exact, proc, x0, np.random.default_rng(1), 1e-4, count=5)
    assert [r["network_mse"] for r in same] == [0.0] * 5
    shift = np.array([0.003, -0.004])
    moved = errors.error_curve(
        lambda x, t: exact(x, t) + shift, exact, proc, x0, np.random.default_rng(1), 1e-4, 5
    )
    np.testing.assert_allclose([r["network_mse"] for r in moved], 2.5e-5, rtol=1e-9)
    assert [r["exact_mse"] for r in moved] == [r["exact_mse"] for r in same]  # same draws of x_t
    lo, hi = (proc.path(t)[1] / proc.path(t)[0] for t in (1e-4, proc.t_max()))
    assert moved[0]["level"] == pytest.approx(lo) and moved[-1]["level"] == pytest.approx(hi)
    assert all(r["exact_mse"] > 0 for r in moved) and moved[0]["exact_mse"] < moved[-1]["exact_mse"]


def test_error_maps_cover_the_data_at_levels_inside_the_range():
    proc, dist = process.Diffusion(1.0), data.SwissRoll(scale=0.07)
    exact = process.exact_denoiser(proc, dist)
    x0 = dist.sample(200, np.random.default_rng(0))
    maps = errors.error_maps(exact, exact, proc, x0, 1e-4, count=3, size=16)
    assert maps["network-0"].shape == (16, 16) and not maps["network-2"].any()
    assert (maps["exact-1"] >= 0).all() and maps["exact-1"].max() > 0
    lo, hi, ylo, yhi = maps["extent"]
    assert lo < x0[:, 0].min() and hi > x0[:, 0].max() and ylo < x0[:, 1].min() and yhi > x0[:, 1].max()
    assert np.all(np.diff(maps["levels"]) > 0) and len(maps["times"]) == 3


def test_one_dimensional_data_gets_its_error_curve_and_no_maps(tmp_path):
    """A learned 1-D experiment has an exact denoiser too: its figure is the
    curve alone (the maps are of the plane)."""
    from stepdiff import plots

    proc, dist = process.Diffusion(3.0), data.gaussian(2.0, 0.5)
    exact = process.exact_denoiser(proc, dist)
    x0 = dist.sample(100, np.random.default_rng(0))
    maps = errors.error_maps(exact, exact, proc, x0, 1e-4)
    assert len(maps["levels"]) == 0 and not any(k.startswith("network-") for k in maps)
    rows = errors.error_curve(exact, exact, proc, x0, np.random.default_rng(1), 1e-4, count=4)
    plots.error_figure(pd.DataFrame(rows), maps, "gauss", str(tmp_path / "e.jpg"))
    assert (tmp_path / "e.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
