"""Figures. Each takes saved arrays, so restyling never reruns a sampler."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402  scipy.stats (0.4 s to import) loads on first use: the 1-D histograms

from . import process  # noqa: E402
from .data import from_config  # noqa: E402
from .io import atomic  # noqa: E402
from .metrics import mixture_cdf  # noqa: E402
from .registry import SAMPLERS, parse_label, run_label, run_of  # noqa: E402
from .sampling import gaussian_law  # noqa: E402
from .seeds import rng_for  # noqa: E402


def _save(fig, path):
    """Write the figure under a temporary name, renamed when complete."""
    try:
        with atomic(path, os.path.splitext(path)[1]) as tmp:  # matplotlib reads the format from the suffix
            fig.savefig(tmp, dpi=120, pil_kwargs={"quality": 90})
    finally:
        plt.close(fig)


def experiment_figure(exp, name, train, samples, trajectories, loss, path):
    """Histogram (1-D), trajectories (point masses) or scatter panels (2-D)."""
    dist = from_config(exp["data"])
    if exp["data"]["kind"] == "point_masses":
        fig = trajectories_figure(dist, trajectories, name)
    elif dist.dim == 1:
        fig = histogram_figure(dist, process.from_config(exp), exp["t_min"], samples, name)
    else:
        source = None
        if "source" in exp:  # a flow: show where it starts
            n = len(next(iter(samples.values())))
            source = process.from_config(exp).source(n, dist.dim, rng_for(exp["seed"], name, "figure"))
        fig = scatter_figure(train, samples, loss, name, source, trajectories)
    _save(fig, path)


def histogram_figure(dist, proc, t_min, samples, name):
    """Sample histograms over the data density and the exact output density
    that the sampler's affine steps imply (docs/theory.md section 6)."""
    fig, axes = plt.subplots(1, len(samples), figsize=(5 * len(samples), 3.8), squeeze=False)
    for ax, (path, x) in zip(axes[0], samples.items()):
        label, steps = run_of(path)
        grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 400)
        data_pdf = np.gradient(mixture_cdf(dist)(grid), grid)
        ax.hist(x[:, 0], bins=120, density=True, alpha=0.5, label=f"{len(x)} samples")
        ax.plot(grid, data_pdf, "k", lw=1.5, label="data density")
        if len(dist.means) == 1:
            m, s = gaussian_law(dist.means[0, 0], dist.stds[0], proc, label, steps, t_min)
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


def _distance_scale(ax, metric):
    """Log axes; the energy distance (an unbiased estimate, just below 0 at the
    noise floor) gets a symmetric log axis, linear within 1e-4 of 0."""
    if metric == "energy":
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.axhline(0, color="k", lw=0.5)
    else:
        ax.set_yscale("log")


def steps_figure(table, name, path, data=None):
    """Each distance against the number of denoiser evaluations (NFE) on
    log-log axes, one colour per sampler and grid; the noise floor as a grey
    band. Where the exact answer is known (1-D Gaussian data) it is drawn
    dashed and the measured points must sit on it; exact-denoiser references
    (learned experiments) are open circles."""
    data_moments = {}
    if data and data["kind"] == "gaussian":
        data_moments = {"mean": float(np.ravel(data["mean"])[0]), "std": data["std"]}
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
            _distance_scale(ax, metric)
    if moments:
        fig.suptitle("marks: measured; thin dashed: the exact output law of each sampler", fontsize=9)
    _legend_right(fig, _run_handles(set(zip(table["sampler"], table["grid"])), exact, floor))
    _save(fig, path)


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
        _distance_scale(ax, metric)
    axes[0][0].set_ylabel(_unit(metric))
    runs = {run for t in tables.values() for run in zip(t["sampler"], t["grid"])}
    fig.suptitle(title, fontsize=10)
    _legend_right(fig, _run_handles(runs, exact, floor))
    _save(fig, path)


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


def _learned_energy(table, label, steps):
    """(energy, its standard error) of a learned run in an experiment's metrics table."""
    sampler, grid = parse_label(label)
    run = table[(table["sampler"] == sampler) & (table["grid"] == grid) & (table["steps"] == steps)]
    run = run[run["denoiser"] == "learned"].set_index("metric")["value"]
    return run["energy"], run["energy_se"]


def start_figure(rows, arrays, data, tables, spec, name, path):
    """Energy distance against sigma for one sampler with the exact denoiser,
    from N(0, sigma^2) and from the true p_1, beside the runs of the same
    sampler in learned experiments (their metrics ``tables``, at
    ``spec["learned_sigmas"]``), and the noise floor. (A study figure's
    arguments: its table, its arrays, its data sets, the experiments' tables,
    its params, its name, the path.)"""
    learned = {
        s: _learned_energy(t, spec["sampler"], spec["steps"])
        for t, s in zip(tables.values(), spec["learned_sigmas"])
    }
    fig, ax = plt.subplots(figsize=(7, 4.6))
    for start, style, text in (
        ("prior", "o-", "exact denoiser, from N(0, sigma²)"),
        ("p1", "s--", "exact, from p_1"),
        ("learned", "^:", "the study's network, from N(0, sigma²)"),
    ):
        part = rows[rows["start"] == start].sort_values("sigma")
        if len(part):
            ax.errorbar(
                part["sigma"], part["energy"], yerr=part["energy_se"], fmt=style, capsize=3, label=text
            )
    if learned:
        sig = sorted(learned)
        ax.errorbar(
            sig,
            [learned[s][0] for s in sig],
            yerr=[learned[s][1] for s in sig],
            fmt="D",
            ms=8,
            capsize=3,
            color="k",
            label="learned denoiser (experiments)",
        )
    floor = rows.loc[rows["start"] == "floor", "energy"].abs().max()
    ax.axhspan(-floor, floor, color="grey", alpha=0.25, label="noise floor")
    steps = f"{spec['sampler']}, {spec['steps']} steps"
    ax.set(xscale="log", xlabel="sigma (noise scale at t = 1)", ylabel="energy distance to held-out data")
    ax.set_title(f"{name}: {steps}; the floor of a deterministic sampler is its start", fontsize=10)
    _distance_scale(ax, "energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def memorisation_figure(table, samples, data_sets, tables, spec, name, path):
    """Memorised fraction and energy distance against the training-set size N,
    ideal and learned, for each sampler, with a fresh draw of the data as the
    chance level and floor; and the first sampler's samples over the training
    points for the smallest and the largest N."""
    train = data_sets["train"]
    runs = table[table["denoiser"] != "data"]
    labels = list(dict.fromkeys(zip(runs["sampler"], runs["grid"], runs["steps"])))
    data = table[table["denoiser"] == "data"].pivot_table(index="size", columns="metric", values="value")
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.4))
    for i, ((sampler, grid, steps), style) in enumerate(zip(labels, ("-", "--", ":", "-."))):
        run = runs[(runs["sampler"] == sampler) & (runs["grid"] == grid) & (runs["steps"] == steps)]
        for denoiser, marker, colour in (("ideal", "o", "C0"), ("learned", "s", "C3")):
            part = run[run["denoiser"] == denoiser].pivot_table(
                index="size", columns="metric", values="value"
            )
            text = f"{denoiser}, {run_label(sampler, grid)} {steps}"
            axes[0].plot(part.index, part["memorised"], style, marker=marker, color=colour, label=text)
            axes[1].errorbar(
                part.index,
                part["energy"],
                yerr=part["energy_se"],
                fmt=style,
                marker=marker,
                color=colour,
                capsize=3,
            )
            n = run.loc[run["denoiser"] == denoiser, "crossing"].iloc[0]  # the study's column
            if denoiser == "learned" and np.isfinite(n):
                axes[0].axvline(n, color=colour, ls=style, lw=0.8, alpha=0.6)
                axes[0].annotate(f" N = {n:.0f}", (n, 0.56 + 0.06 * i), color=colour, fontsize=8)
    axes[0].plot(data.index, data["memorised"], "k:", label="fresh data (chance level)")
    axes[0].axhline(0.5, color="grey", lw=0.6)
    axes[0].set(xscale="log", ylim=(-0.02, 1.02), xlabel="training points N", ylabel="fraction memorised")
    axes[0].set_title("memorised: |x - NN1| < |x - NN2| / 3", fontsize=10)
    axes[0].legend(fontsize=7)
    floor = data["energy"].abs().max()
    axes[1].axhspan(-floor, floor, color="grey", alpha=0.25, label="noise floor")
    axes[1].set(xscale="log", xlabel="training points N", ylabel="energy distance to held-out data")
    axes[1].set_title("does it learn the distribution?", fontsize=10)
    _distance_scale(axes[1], "energy")
    sizes = sorted(runs["size"].unique())
    sampler, grid, steps = labels[0]
    for ax, size in zip(axes[2:], (sizes[0], sizes[-1])):
        few = size < 100  # few training points: hollow rings that show the ideal samples inside
        ax.scatter(
            *train[:size].T,
            s=70 if few else 1,
            facecolors="none" if few else "0.6",
            edgecolors="k" if few else "0.6",
            lw=0.8,
            label="training points",
            zorder=1,
        )
        for denoiser, colour, dot in (("ideal", "C0", 8), ("learned", "C3", 3)):
            x = samples[f"{denoiser}-n{size}-{run_label(sampler, grid)}-{steps}"]
            ax.scatter(
                x[:, 0], x[:, 1], s=dot, alpha=0.6, color=colour, label=f"{denoiser} samples", zorder=2
            )
        ax.set(aspect="equal", title=f"N = {size} ({run_label(sampler, grid)}, {steps} steps)")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{name}: when does the network copy its training set?", fontsize=11)
    fig.tight_layout()
    _save(fig, path)


def training_figure(table, arrays, data_sets, tables, spec, name, path):
    """The training study: each recipe's error against the exact denoiser
    over the noise levels (the task's own error dashed), its samples' distance
    to the curve (median and fraction beyond the threshold, with standard
    errors, and its training CPU-seconds), and the samples of the base recipe
    and of the recipe farthest off the curve."""
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8), gridspec_kw={"width_ratios": [1.3, 1, 1, 1]})
    nets = table[table["variant"] != "exact"].reset_index(drop=True)
    colour = {v: f"C{i % 10}" for i, v in enumerate(nets["variant"])}
    for v in nets["variant"]:
        level, mse, se = arrays[f"error-{v}"].T
        axes[0].errorbar(level, mse, yerr=se, fmt="o-", ms=2, lw=1, color=colour[v], capsize=1.5, label=v)
    level, mse, _ = arrays["error-exact"].T
    axes[0].plot(level, mse, "k--", lw=1, label="task: E||D_exact - x0||²")
    axes[0].set(xscale="log", yscale="log", xlabel="noise level sigma_t / alpha_t")
    axes[0].set(ylabel="E||D_net - D_exact||² over x_t ~ p_t")
    axes[0].legend(fontsize=7, ncol=2)
    axes[0].set_title(f"{name}: the networks' error by noise level", fontsize=10)
    y = np.arange(len(table))[::-1]
    labels = [
        f"{v} ({c})" if c not in ("-", "exact denoiser") else v
        for v, c in zip(table["variant"], table["change"])
    ]
    colours = [colour.get(v, "k") for v in table["variant"]]
    for ax, metric, text in (
        (axes[1], "curve_median", "median distance to the curve"),
        (axes[2], "curve_far", f"fraction farther than {spec['curve_threshold']:g}"),
    ):
        ax.barh(y, table[metric], xerr=table[f"{metric}_se"], color=colours, alpha=0.8, capsize=2)
        ax.set(yticks=y, yticklabels=labels if ax is axes[1] else [], xlabel=text)
        ax.set_xscale("log" if metric == "curve_median" else "linear")
        ax.tick_params(axis="y", labelsize=7)
    for yi, cpu in zip(y, table["train_cpu_s"]):
        if np.isfinite(cpu):
            axes[2].annotate(
                f"{cpu:.0f} CPU-s",
                (0, yi),
                xytext=(3, 0),
                textcoords="offset points",
                fontsize=7,
                va="center",
            )
    nfe = int(table["nfe"].iloc[0])
    axes[1].set_title(f"samples: {spec['sampler']} {spec['steps']} steps, {nfe} NFE", fontsize=10)
    axes[2].set_title("off the curve (training CPU-s at the left)", fontsize=10)
    worst = nets.loc[nets["curve_far"].idxmax(), "variant"]
    for v, c in (("base", "C0"), (worst, "C3")):
        x = arrays[v]
        axes[3].scatter(x[:, 0], x[:, 1], s=1, alpha=0.5, color=c, label=v)
    axes[3].set(aspect="equal")
    axes[3].set_title("samples: the base, and the farthest off the curve", fontsize=10)
    axes[3].legend(fontsize=7, markerscale=6)
    fig.tight_layout()
    _save(fig, path)


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
    _save(fig, path)


def orders_figure(table, arrays, data_sets, tables, spec, name, path):
    """Each deterministic sampler's error against the exact flow map of
    Gaussian data (the orders study) against NFE, log-log, one panel per
    process and grid, one colour per sampler: filled points are the range
    where the error is ``C steps^-p``, with the fitted ``p`` in the legend
    (no fit: the law does not hold on that grid by the largest count)."""
    samplers = list(dict.fromkeys(table["sampler"]))
    kinds = list(dict.fromkeys(table["process"]))
    grids = list(dict.fromkeys(table["grid"]))
    fig, axes = plt.subplots(
        len(kinds), len(grids), figsize=(4.2 * len(grids), 3.8 * len(kinds)), squeeze=False, sharey=True
    )
    colours = plt.get_cmap("tab10")
    for row, kind in zip(axes, kinds):
        for ax, grid in zip(row, grids):
            panel = table[(table["grid"] == grid) & (table["process"] == kind)]
            for i, sampler in enumerate(samplers):
                run = panel[panel["sampler"] == sampler]
                if run.empty:
                    continue
                run = run.sort_values("steps")
                order, first, last = run[["order", "fit_from", "fit_to"]].iloc[0]
                fitted = run[(run["steps"] >= first) & (run["steps"] <= last)]
                text = f"{sampler}: no fit"
                if np.isfinite(order):
                    text = f"{sampler}: p = {order:.2f} ({first:.0f} to {last:.0f} steps)"
                colour = colours(i % 10)
                ax.plot(run["nfe"], run["error"], "o-", mfc="none", ms=4, lw=0.8, color=colour, label=text)
                ax.plot(fitted["nfe"], fitted["error"], "o", ms=4, color=colour)
            ax.set(xscale="log", yscale="log", xlabel="denoiser evaluations (NFE)")
            ax.set_title(f"{kind}, {grid} grid", fontsize=10)
            ax.legend(fontsize=7)
        row[0].set_ylabel("largest error against the exact flow map")
    fig.suptitle(
        f"{name}: error at fixed starts on Gaussian data; filled: where error = C steps^-p (fitted p)",
        fontsize=10,
    )
    fig.tight_layout()
    _save(fig, path)


def likelihood_figure(table, arrays, data_sets, tables, spec, name, path):
    """For each data set, maps of the data's log p, the model's log q (the
    network's, or the exact denoiser's without one) and their difference
    where the data has mass (log p within 10 nats of its peak: elsewhere
    neither the KL nor the NLL sees it), and beside them KL(p || q) in nats
    with its standard error for every model and the start's own KL (a
    diffusion's start mismatch, by quadrature)."""
    sets = list(dict.fromkeys(table["set"]))
    fig = plt.figure(figsize=(16, 3.6 * len(sets)))
    grid = fig.add_gridspec(len(sets), 4, width_ratios=(1, 1, 1, 1.3))
    for row, key in enumerate(sets):
        part = table[table["set"] == key]
        log_p, extent = arrays[f"logp-{key}"], arrays[f"extent-{key}"]
        model = "learned" if f"logq-{key}-learned" in arrays else "exact"
        log_q = arrays[f"logq-{key}-{model}"]
        top = float(np.nanmax(log_p))
        gap = np.where(log_p > top - 10, log_q - log_p, np.nan)
        for col, (values, text, cmap, limits) in enumerate(
            (
                (log_p, "log p (data)", "viridis", (top - 10, top)),
                (log_q, f"log q ({model})", "viridis", (top - 10, top)),
                (gap, "log q - log p (where p has mass)", "RdBu_r", (-2, 2)),
            )
        ):
            ax = fig.add_subplot(grid[row, col])
            image = ax.imshow(
                np.clip(values, *limits),
                origin="lower",
                extent=extent,
                cmap=cmap,
                vmin=limits[0],
                vmax=limits[1],
            )
            fig.colorbar(image, ax=ax, fraction=0.046)
            ax.set_title(f"{key}: {text}", fontsize=9)
            ax.set(xticks=[], yticks=[])
        ax = fig.add_subplot(grid[row, 3])
        kl = part[part["metric"] == "kl"]
        labels = list(kl["denoiser"])
        ax.errorbar(kl["value"], range(len(kl)), xerr=kl["se"].fillna(0), fmt="o", capsize=3, color="C3")
        ax.set_yticks(range(len(kl)), labels)
        ax.set_ylim(-0.6, len(kl) - 0.4)
        ax.axvline(0, color="grey", lw=0.6)
        reach = float((kl["value"].abs() + kl["se"].fillna(0)).max())
        ax.set_xlim(-0.1 * reach - 1e-3, 1.15 * reach + 1e-3)
        for i, (value, se) in enumerate(zip(kl["value"], kl["se"])):
            text = f"{value:.3g}" if not np.isfinite(se) else f"{value:.3g} ± {se:.2g}"
            ax.annotate(text, (value, i), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
        nll = part[part["metric"] == "nll"].set_index("denoiser")["value"]
        entropy = part.loc[part["metric"] == "entropy", "value"].iloc[0]
        text = ", ".join(f"{d} {v:.3f}" for d, v in nll.items())
        ax.set_title(
            f"{part['process'].iloc[0]}: KL(p || q), nats\nNLL {text}; entropy {entropy:.3f}", fontsize=8
        )
    fig.suptitle(
        f"{name}: the model's log-density by the probability-flow ODE against the data's", fontsize=11
    )
    fig.tight_layout()
    _save(fig, path)


def _guidance_value(ring, g, run, denoiser, metric):
    """(value, se) of one ring row of a guidance study's table (NaNs if absent);
    ``run`` is ``(sampler, grid, steps)``, ``None`` for the tilted law."""
    sampler, grid, steps = run if run is not None else ("tilted", "none", 0)
    r = ring[(ring["scale"] == g) & (ring["sampler"] == sampler) & (ring["grid"] == grid)]
    r = r[(r["steps"] == steps) & (r["denoiser"] == denoiser) & (r["metric"] == metric)]
    return (float(r["value"].iloc[0]), float(r["se"].iloc[0])) if len(r) else (np.nan, np.nan)


def guidance_figure(table, arrays, data_sets, tables, spec, name, path):
    """Classifier-free guidance against the tilted law (docs/theory.md section
    15). Left, one column per guidance scale: the tilted law ``p(x|c)^g
    p(x)^(1-g)`` on its grid, then each sampler's guided samples with the
    exact denoisers and with the study's network (same starts), the class's
    sector outlined. Right: the closed-form 1-D laws (std and mean against
    g: tilted, the guided ODE and SDE limits, the samplers), and on the ring
    the energy distance to the tilted draw and the spread within the sector."""
    from .seeds import canonical_key

    ring = table[table["part"] == "ring"]
    scales = sorted(ring["scale"].unique())
    exact = ring[ring["denoiser"] == "exact"]
    runs = list(dict.fromkeys(zip(exact["sampler"], exact["grid"], exact["steps"])))
    denoisers = ("exact", "learned") if (ring["denoiser"] == "learned").any() else ("exact",)
    panels = [("tilted", None)] + [(d, run) for run in runs for d in denoisers]
    means, k, edges = arrays["means"], int(arrays["label"][0]), arrays["edges"]
    samples = [v for key, v in arrays.items() if key.split("-")[0] in denoisers]
    view = min(edges[-1], 1.1 * max(np.quantile(np.abs(x).max(1), 0.995) for x in samples))
    fig = plt.figure(figsize=(2.4 * len(scales) + 4.2, 2.5 * len(panels)))
    grid = fig.add_gridspec(len(panels), len(scales) + 1, width_ratios=[1] * len(scales) + [1.7])
    theta, width = 2 * np.pi * k / len(means), np.pi / len(means)
    for j, g in enumerate(scales):
        for i, (denoiser, run) in enumerate(panels):
            ax = fig.add_subplot(grid[i, j])
            if run is None:
                mass = arrays[f"mass-g{canonical_key(g)}"]
                ax.imshow(mass, origin="lower", extent=(edges[0], edges[-1]) * 2, cmap="Greys")
                text = f"tilted law, g = {g:g}"
            else:
                label = run_label(run[0], run[1])
                x = arrays[f"{denoiser}-g{canonical_key(g)}-{label}-{run[2]}"]
                ax.scatter(*x.T, s=1, alpha=0.5, color="C0" if denoiser == "exact" else "C3", lw=0)
                energy, se = _guidance_value(ring, g, run, denoiser, "energy")
                text = f"{denoiser} {label} {run[2]}, g = {g:g}\nED to tilted {energy:.3f} ± {se:.3f}"
                if denoiser == "learned":
                    gap, gap_se = _guidance_value(ring, g, run, denoiser, "energy_to_exact")
                    text += f"\nED to exact {gap:.4f} ± {gap_se:.4f}"
            share, spread = (_guidance_value(ring, g, run, denoiser, m)[0] for m in ("sector", "spread"))
            ax.set_title(f"{text}\nsector {share:.3f}, spread {spread:.3f}", fontsize=7)
            ax.scatter(*means.T, marker="+", s=30, color="k", lw=0.8)
            for edge in (theta - width, theta + width):  # the class's sector
                ax.plot([0, 2 * view * np.cos(edge)], [0, 2 * view * np.sin(edge)], color="C2", lw=0.7)
            ax.set(xlim=(-view, view), ylim=(-view, view), aspect="equal", xticks=[], yticks=[])
    right = grid[:, -1].subgridspec(4, 1, hspace=0.6)
    closed = table[table["part"] == "gaussian"]
    names = {"tilted": "tilted law", "ode": "guided ODE (DDIM's limit)", "sde": "guided SDE (DDPM's limit)"}
    styles = {"tilted": "k-", "ode": "C0-", "sde": "C1-"}
    for row, metric in enumerate(("std", "mean")):
        ax = fig.add_subplot(right[row])
        for sampler, kind, steps in dict.fromkeys(zip(closed["sampler"], closed["grid"], closed["steps"])):
            part = closed[
                (closed["sampler"] == sampler) & (closed["grid"] == kind) & (closed["steps"] == steps)
            ]
            part = part[part["metric"] == metric].sort_values("scale")
            text = names.get(sampler, f"{run_label(sampler, kind)}, {steps} steps")
            style = styles.get(sampler, ("C0:" if sampler == "ddim" else "C1:"))
            ax.plot(part["scale"], part["value"], style, marker="o", ms=3, label=text)
        ax.set(
            xlabel="guidance scale g",
            ylabel=f"output {metric}",
            yscale="log" if metric == "std" else "linear",
        )
        ax.set_title(f"1-D labelled Gaussian, exact: {metric}", fontsize=8)
        if row == 0:
            ax.legend(fontsize=6)
    ring_panels = ((2, "energy", "energy distance to the tilted draw"), (3, "spread", "spread in the sector"))
    for row, metric, text in ring_panels:
        ax = fig.add_subplot(right[row])
        if metric == "spread":
            tilted = [_guidance_value(ring, g, None, "tilted", "spread")[0] for g in scales]
            ax.plot(scales, tilted, "k-", marker="o", ms=3, label="tilted law")
        for n_run, run in enumerate(runs):
            for denoiser, fmt in zip(denoisers, ("o-", "s:")):
                v = np.array([_guidance_value(ring, g, run, denoiser, metric) for g in scales])
                label = f"{denoiser} {run_label(run[0], run[1])} {run[2]}"
                ax.errorbar(
                    scales, v[:, 0], yerr=v[:, 1], fmt=fmt, ms=3, capsize=2, color=f"C{n_run}", label=label
                )
        ax.set(xlabel="guidance scale g", ylabel=text)
        ax.set_title(f"ring of classes: {text}", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle(f"{name}: guided samples are not the tilted law p(x|c)^g p(x)^(1-g)", fontsize=11)
    fig.tight_layout()
    _save(fig, path)
