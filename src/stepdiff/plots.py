"""Figures. Each takes saved arrays, so restyling never reruns a sampler."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402  scipy.stats (0.4 s to import) loads on first use: the 1-D histograms

from .io import atomic  # noqa: E402
from .registry import SAMPLERS, parse_label, run_of  # noqa: E402


def save(fig, path):
    """Write the figure under a temporary name, renamed when complete."""
    try:
        with atomic(path, os.path.splitext(path)[1]) as tmp:  # matplotlib reads the format from the suffix
            fig.savefig(tmp, dpi=120, pil_kwargs={"quality": 90})
    finally:
        plt.close(fig)


def _exact_law(table, label, steps):
    """(mean, std) of a run's exact output law, as its scores wrote them, or None."""
    sampler, grid = parse_label(label)
    run = table[(table["sampler"] == sampler) & (table["grid"] == grid) & (table["steps"] == steps)]
    law = run[run["metric"].isin(["exact_mean", "exact_std"])].drop_duplicates("metric")
    if len(law) < 2:
        return None
    value = law.set_index("metric")["value"]
    return float(value["exact_mean"]), float(value["exact_std"])


def histogram_figure(dist, table, samples, name):
    """Sample histograms over the data density and the exact output density
    that the sampler's affine steps imply (docs/theory.md section 6; the
    run's scores wrote its mean and std)."""
    fig, axes = plt.subplots(1, len(samples), figsize=(5 * len(samples), 3.8), squeeze=False)
    for ax, (path, x) in zip(axes[0], samples.items()):
        label, steps = run_of(path)
        grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 400)
        data_pdf = np.gradient(dist.cdf(grid), grid)
        ax.hist(x[:, 0], bins=120, density=True, alpha=0.5, label=f"{len(x)} samples")
        ax.plot(grid, data_pdf, "k", lw=1.5, label="data density")
        law = _exact_law(table, label, steps)
        if law is not None:
            m, s = law
            ax.plot(
                grid,
                scipy.stats.norm(m, s).pdf(grid),
                "r--",
                lw=1.5,
                label=f"exact output N({m:.3f}, {s:.3f}²)",
            )
        ax.set(title=f"{name}: {label.upper()}, {steps} steps", xlabel="x")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def trajectories_figure(dist, trajectories, name):
    """DDIM paths from N(0, sigma^2 I) to the masses, coloured by the nearest mass
    (1-D data: position against the sampler's step). ``trajectories`` maps a
    run's key to its ``io.Trajectories``; its ``paths`` are drawn, through the saved rows."""
    fig, axes = plt.subplots(1, len(trajectories), figsize=(6 * len(trajectories), 6), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (path, record) in zip(axes[0], trajectories.items()):
        label, steps = run_of(path)
        traj = record.paths
        end = traj[-1]
        nearest = np.argmin(((end[:, None, :] - dist.means[None]) ** 2).sum(-1), axis=1)
        if dist.dim == 1:  # plot x against the step, so that 1-D paths are visible
            step = np.asarray(record.rows, dtype=float)[:, None, None]
            traj = np.concatenate([np.broadcast_to(step, traj.shape), traj], axis=2)
            means = np.column_stack([np.full(len(dist.means), float(steps)), dist.means[:, 0]])
            ax.set(xlabel="sampler step (t = 1 at step 0)", ylabel="x")
        else:
            means = dist.means
            ax.set(aspect="equal")
        for i in range(traj.shape[1]):
            ax.plot(traj[:, i, 0], traj[:, i, 1], "-", lw=0.6, alpha=0.6, color=colours(nearest[i]))
        ax.scatter(traj[0, :, 0], traj[0, :, 1], s=12, c="grey", label="start (t = 1)")
        ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=25, c=[colours(k) for k in nearest], label="end (t = 0)")
        ax.scatter(means[:, 0], means[:, 1], marker="*", s=250, c="k", label="point mass")
        ax.set(title=f"{name}: {label.upper()}, {steps} steps, {traj.shape[1]} trajectories")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def scatter_figure(train, samples, loss, name, source=None, trajectories=None):
    """Training data and each sampler's samples on equal axes, and the loss
    curve. For a flow, its source first, and each run's trajectories drawn
    over its samples (grey: from the source at t = 1 to the sample at t = 0,
    through the saved rows; ``trajectories`` maps a run's key to its ``io.Trajectories``)."""
    n_show = len(next(iter(samples.values())))
    panels = [] if source is None else [("source (t = 1)", source, None)]
    panels += [("training data", train[:n_show], None)]
    paths = {run_of(p): t.paths for p, t in (trajectories or {}).items()} if source is not None else {}
    for p, x in samples.items():
        label, steps = run_of(p)
        panels.append((f"{label.upper()}, {steps} steps", x, paths.get((label, steps))))
    n = len(panels) + (loss is not None)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2))
    extent = [train] + ([] if source is None else [source])
    lim = 1.15 * max(np.abs(a).max() for a in extent)
    for ax, (title, x, path) in zip(axes, panels):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
        if path is not None:
            ax.plot(path[:, :, 0], path[:, :, 1], color="grey", lw=0.4, alpha=0.5)
        ax.set(title=f"{name}: {title}", xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    if loss is not None:
        ax = axes[-1]
        ax.plot(loss["step"], loss["loss"], lw=0.3, alpha=0.4)
        smooth = loss["loss"].rolling(50, min_periods=1).mean()
        ax.plot(loss["step"], smooth, lw=1.5)
        ax.set(title="training loss", xlabel="step", yscale="log")
    fig.tight_layout()
    return fig


# Panels of the steps figure, in this order: distances on log axes, then
# fractions (point masses) and moments (1-D Gaussian data) on linear axes.
DISTANCES = ("ks_data", "w1_data", "energy", "sw2", "nn_median", "curve_median", "curve_p99", "curve_far")
DISTANCES += ("median_dist", "max_dist")


# One look per sampler run across the project: the sampler's colour
# (``registry.SAMPLERS``), the grid's marker and line; filled for the learned
# denoiser, open for the exact one.
GRID_STYLES = {"uniform": ("o", "-"), "karras": ("s", "--"), "logsnr": ("^", ":"), "sigma": ("D", "-.")}


def run_style(sampler: str, grid: str) -> dict:
    """The colour, marker and line style of a sampler on a grid, in every figure."""
    marker, line = GRID_STYLES[grid]
    return {"color": SAMPLERS[sampler].colour, "marker": marker, "linestyle": line}


def _run_handles(runs, exact: bool, floor: bool) -> list:
    """Legend entries: one per (sampler, grid) of ``runs``, then what open
    marks and the grey band mean."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], ms=6, label=f"{s}, {g}", **run_style(s, g)) for s, g in sorted(runs)]
    if exact:
        open_mark = dict(color="k", marker="o", mfc="none", linestyle="none", ms=7)
        handles.append(Line2D([], [], label="open: exact denoiser", **open_mark))
    if floor:
        handles.append(Patch(color="grey", alpha=0.25, label="noise floor"))
    return handles


def _draw_runs(ax, table, metric):
    """One line per (sampler, grid) of ``table`` against NFE (:func:`run_style`):
    filled marks for the learned denoiser, open ones for the exact one, bars
    of one standard error where the table has one, and the exact output law
    (thin, dashed) where it is known. Returns whether an exact-denoiser
    series of a learned experiment was drawn."""
    only_exact = set(table["denoiser"]) == {"exact"}
    drew_exact = False
    for (sampler, grid), rows in table.groupby(["sampler", "grid"]):
        wide = rows.pivot_table(index="nfe", columns=["denoiser", "metric"], values="value")
        style = run_style(sampler, grid)
        for denoiser in wide.columns.get_level_values(0).unique():
            part = wide[denoiser].dropna(how="all")
            learned = denoiser == "learned" or only_exact
            law = f"exact_{metric}" in part
            if metric in part:
                drew_exact |= not learned
                look = {**style, "linestyle": "none" if law or not learned else style["linestyle"]}
                ax.plot(
                    part.index, part[metric], mfc=None if learned else "none", ms=5 if learned else 8, **look
                )
                if f"{metric}_se" in part:  # one standard error of the estimate
                    se = part[f"{metric}_se"]
                    ax.errorbar(part.index, part[metric], yerr=se, fmt="none", ecolor=style["color"])
            if law:
                ax.plot(part.index, part[f"exact_{metric}"], "--", color=style["color"], lw=1.0)
    return drew_exact


def _floor_band(ax, tables, metric) -> bool:
    """The noise floor as a grey band; whether there was one."""
    floor = pd.concat([t.loc[t["metric"] == metric, "noise_floor"] for t in tables]).dropna().abs()
    if len(floor) and floor.max() > 0:  # the energy's floor is a band around 0: it has either sign
        low = -floor.max() if metric == "energy" else 0
        ax.axhspan(low, floor.max(), color="grey", alpha=0.25, label="noise floor")
        return True
    return False


def distance_scale(ax, metric):
    """Log axes; the energy distance (an unbiased estimate, just below 0 at the
    noise floor) gets a symmetric log axis, linear within 1e-4 of 0."""
    if metric == "energy":
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.axhline(0, color="k", lw=0.5)
    else:
        ax.set_yscale("log")


def steps_figure(table, name, path, moments=None):
    """Each distance against the number of denoiser evaluations (NFE) on
    log-log axes, one colour per sampler and grid; the noise floor as a grey
    band. Where the exact answer is known (1-D Gaussian data) it is drawn
    dashed and the measured points must sit on it; exact-denoiser references
    (learned experiments) are open circles."""
    data_moments = moments or {}  # the data law's own mean and std, drawn dotted
    present = set(table["metric"])
    metrics = [m for m in DISTANCES if m in present]
    moments = [m for m in ("mean", "std") if f"exact_{m}" in present]
    panels = metrics + sorted(m for m in present if m.startswith("frac_at_mass")) + moments
    if not panels:
        raise ValueError(f"{name}: no metric to draw against steps in {sorted(present)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 2.2, 4), squeeze=False)
    exact = floor = False
    for ax, metric in zip(axes[0], panels):
        exact |= _draw_runs(ax, table, metric)
        floor |= _floor_band(ax, [table], metric)
        if metric in data_moments:
            ax.axhline(data_moments[metric], color="k", lw=0.8, ls=":")
        ax.set(
            xscale="log", xlabel="denoiser evaluations (NFE)", ylabel=_unit(metric), title=f"{name}: {metric}"
        )
        if metric in metrics:
            distance_scale(ax, metric)
    if moments:
        fig.suptitle("marks: measured; thin dashed: the exact output law of each sampler", fontsize=9)
    _legend_right(fig, _run_handles(set(zip(table["sampler"], table["grid"])), exact, floor))
    save(fig, path)


def comparison_figure(tables: dict, metric, title, path):
    """One metric against NFE for several experiments (say a diffusion and a
    flow on the same data): one panel per experiment on a shared axis, each
    sampler and grid in its own look (:func:`run_style`), the legend beside
    the panels."""
    fig, axes = plt.subplots(
        1, len(tables), figsize=(3.6 * len(tables) + 2.4, 4.2), sharey=True, squeeze=False
    )
    exact = floor = False
    for ax, (name, table) in zip(axes[0], tables.items()):
        exact |= _draw_runs(ax, table, metric)
        floor |= _floor_band(ax, [table], metric)
        ax.set_title(name)
        _nfe_axis(ax)
        distance_scale(ax, metric)
    axes[0][0].set_ylabel(_unit(metric))
    runs = {run for t in tables.values() for run in zip(t["sampler"], t["grid"])}
    fig.suptitle(title, fontsize=10)
    _legend_right(fig, _run_handles(runs, exact, floor))
    save(fig, path)


def _unit(metric: str) -> str:
    """An axis label: the metric and its unit."""
    if metric == "curve_far":
        return "curve_far (fraction beyond the threshold)"
    if metric.startswith("curve_") or metric in ("nn_median", "median_dist", "max_dist", "w1_data", "sw2"):
        return f"{metric} (data units)"
    return metric


def _nfe_axis(ax):
    """A log axis of NFE labelled in plain numbers (5, 10, 20, not 10^1)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("denoiser evaluations (NFE)")


def _legend_right(fig, handles):
    """The legend in a column right of every panel, where it covers no data."""
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    right = max(ax.get_position().x1 for ax in fig.axes)
    legend = fig.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(right, 0.93), fontsize=7, frameon=False
    )
    fig.canvas.draw()
    width = legend.get_window_extent().width / fig.bbox.width
    fig.subplots_adjust(right=right - width - 0.01)  # make room, then put the legend in it
    legend.set_bbox_to_anchor((1 - width - 0.005, 0.93), transform=fig.transFigure)
    return legend


def error_figure(table, maps, name, path):
    """Where the network is wrong: its mean squared error against the exact
    denoiser over the trained noise levels, beside the task's own error (the
    exact denoiser against the data), and maps of ``||D_net - D_exact||`` over
    the plane at a few levels, above the exact field ``||D_exact - x||``."""
    count = len(maps["levels"])
    fig = plt.figure(figsize=(4.2 * (count + 1), 7.4))
    grid = fig.add_gridspec(2, count + 1)
    ax = fig.add_subplot(grid[:, 0])
    for column, text, colour in (
        ("network_mse", "network against exact", "C3"),
        ("exact_mse", "exact against data", "C0"),
    ):
        ax.errorbar(
            table["level"],
            table[column],
            yerr=table[f"{column}_se"],
            fmt="o-",
            ms=3,
            color=colour,
            capsize=2,
            label=text,
        )
    for level in maps["levels"]:
        ax.axvline(level, color="grey", lw=0.6, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="noise level sigma_t / alpha_t", ylabel="mean squared error")
    ax.set_title(f"{name}: E||D_net - D_exact||² over x_t ~ p_t", fontsize=9)
    ax.legend(fontsize=8)
    extent = maps["extent"]
    for i, level in enumerate(maps["levels"]):
        for row, (key, label) in enumerate(
            (("network", "||D_net - D_exact||"), ("exact", "||D_exact - x||"))
        ):
            panel = fig.add_subplot(grid[row, i + 1])
            values = np.maximum(maps[f"{key}-{i}"], 1e-8)
            image = panel.imshow(
                values, origin="lower", extent=extent, cmap="magma", norm=matplotlib.colors.LogNorm()
            )
            fig.colorbar(image, ax=panel, fraction=0.046)
            panel.set_title(f"{label}, level {level:.2g}", fontsize=8)
            panel.set(xticks=[], yticks=[])
    fig.tight_layout()
    save(fig, path)
