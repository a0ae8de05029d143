"""Figures a reader can read: one look per sampler and grid across the project,
no two series of a panel alike, and no legend over the data."""

import itertools

import numpy as np
import pandas as pd
import pytest

from stepdiff import plots
from stepdiff.grids import GRIDS
from stepdiff.registry import SAMPLERS


def test_every_sampler_has_its_own_colour_and_every_grid_its_own_mark():
    colours = [s.colour for s in SAMPLERS.values()]
    assert len(set(colours)) == len(colours)
    assert set(plots.GRID_STYLES) == set(GRIDS)
    markers = [m for m, _ in plots.GRID_STYLES.values()]
    lines = [ls for _, ls in plots.GRID_STYLES.values()]
    assert len(set(markers)) == len(markers) and len(set(lines)) == len(lines)
    for sampler, grid in itertools.product(SAMPLERS, GRIDS):
        assert plots.run_style(sampler, grid)["color"] == SAMPLERS[sampler].colour


def table(name, runs, rng, learned=True):
    """A metrics table in the workflow's long format: each run at 5, 10, 20
    and 50 NFE, learned and (for a learned experiment) exact, with errors
    and a noise floor."""
    rows = []
    for (sampler, grid), nfe in itertools.product(runs, (5, 10, 20, 50)):
        for denoiser in ("learned", "exact") if learned else ("exact",):
            for metric in ("energy", "curve_median"):
                value = 10 ** rng.uniform(-4, -1)
                base = dict(
                    experiment=name, sampler=sampler, grid=grid, steps=nfe, nfe=nfe, denoiser=denoiser
                )
                rows.append(dict(base, n=1000, metric=metric, value=value, noise_floor=2e-4))
                rows.append(dict(base, n=1000, metric=f"{metric}_se", value=value / 10, noise_floor=np.nan))
    return pd.DataFrame(rows)


RUNS = [
    ("ddim", "karras"),
    ("ddim", "uniform"),
    ("heun", "karras"),
    ("dpmpp_2m", "karras"),
    ("unipc", "logsnr"),
    ("ddpm", "karras"),
]


@pytest.fixture
def drawn(monkeypatch):
    """The figures the functions draw, kept open instead of written."""
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    yield figures
    for fig in figures:
        plots.plt.close(fig)


def series(ax):
    """Each data series of a panel: (colour, marker, filled) and its points in display coordinates."""
    out = []
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if line.get_marker() in (None, "None", "") or len(x) == 0:
            continue  # a law drawn as a plain line, or the zero line
        filled = line.get_markerfacecolor() != "none"
        look = (plots.matplotlib.colors.to_hex(line.get_color()), line.get_marker(), filled)
        out.append((look, ax.transData.transform(np.column_stack([x, y]))))
    return out


def check_readable(fig):
    legend = fig.legends[0] if fig.legends else None
    assert legend is not None, "a figure of several series needs a legend"
    fig.canvas.draw()
    box = legend.get_window_extent()
    drawn_series = 0
    for ax in fig.axes:
        looks = [look for look, _ in series(ax)]
        assert len(looks) == len(set(looks)), f"{ax.get_title()}: two series look alike"
        for _, points in series(ax):
            drawn_series += 1
            inside = (
                (points[:, 0] >= box.x0)
                & (points[:, 0] <= box.x1)
                & (points[:, 1] >= box.y0)
                & (points[:, 1] <= box.y1)
            )
            assert not inside.any(), f"{ax.get_title()}: the legend covers a data point"
        assert ax.get_xlabel() == "denoiser evaluations (NFE)"
    assert drawn_series > 0


def test_a_comparison_separates_experiments_and_runs(drawn):
    rng = np.random.default_rng(0)
    tables = {name: table(name, RUNS, rng) for name in ("exp3", "exp7", "exp5")}
    plots.comparison_figure(tables, "curve_median", "the roll", "unused.jpg")
    (fig,) = drawn
    assert [ax.get_title() for ax in fig.axes] == ["exp3", "exp7", "exp5"]  # one panel each
    assert fig.axes[0].get_ylabel() == "curve_median (data units)"
    check_readable(fig)
    # 6 runs, learned and exact, in each of the three panels
    assert all(len(series(ax)) == 2 * len(RUNS) for ax in fig.axes)


def test_a_steps_figure_keeps_its_legend_off_the_data(drawn):
    rng = np.random.default_rng(1)
    plots.steps_figure(table("roll", RUNS, rng), "roll", "unused.jpg")
    (fig,) = drawn
    check_readable(fig)
