"""Figures. Each takes saved arrays, so restyling never reruns a sampler."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from .data import from_config  # noqa: E402
from .metrics import mixture_cdf  # noqa: E402
from .sampling import gaussian_moments  # noqa: E402


def _run_of(path):
    """(label, steps) from a ``.../{label}-{steps}.npy`` path."""
    label, steps = os.path.basename(path)[:-4].rsplit("-", 1)
    return label, int(steps)


def _save(fig, path):
    fig.savefig(path, dpi=120, pil_kwargs={"quality": 90})
    plt.close(fig)


def experiment_figure(exp, name, train, samples, trajectories, loss, path):
    """Histogram (1-D), trajectories (point masses) or scatter panels (2-D)."""
    dist = from_config(exp["data"])
    if exp["data"]["kind"] == "point_masses":
        fig = trajectories_figure(dist, trajectories, name)
    elif dist.dim == 1:
        fig = histogram_figure(dist, exp["sigma"], samples, name)
    else:
        fig = scatter_figure(train, samples, loss, name)
    _save(fig, path)


def histogram_figure(dist, sigma, samples, name):
    """Sample histograms over the data density and the exact output density
    that the sampler's affine steps imply (MATH.md section 6)."""
    fig, axes = plt.subplots(1, len(samples), figsize=(5 * len(samples), 3.8), squeeze=False)
    for ax, (path, x) in zip(axes[0], samples.items()):
        label, steps = _run_of(path)
        grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 400)
        data_pdf = np.gradient(mixture_cdf(dist)(grid), grid)
        ax.hist(x[:, 0], bins=120, density=True, alpha=0.5, label=f"{len(x)} samples")
        ax.plot(grid, data_pdf, "k", lw=1.5, label="data density")
        if len(dist.means) == 1:
            m, s = gaussian_moments(dist.means[0, 0], dist.stds[0], sigma, label, steps)
            ax.plot(
                grid, stats.norm(m, s).pdf(grid), "r--", lw=1.5, label=f"exact output N({m:.3f}, {s:.3f}²)"
            )
        ax.set(title=f"{name}: {label.upper()}, {steps} steps", xlabel="x")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def trajectories_figure(dist, trajectories, name):
    """DDIM paths from N(0, sigma^2 I) to the masses, coloured by the nearest mass."""
    fig, axes = plt.subplots(1, len(trajectories), figsize=(6 * len(trajectories), 6), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (path, traj) in zip(axes[0], trajectories.items()):
        label, steps = _run_of(path)
        end = traj[-1]
        nearest = np.argmin(((end[:, None, :] - dist.means[None]) ** 2).sum(-1), axis=1)
        for i in range(traj.shape[1]):
            ax.plot(traj[:, i, 0], traj[:, i, 1], "-", lw=0.6, alpha=0.6, color=colours(nearest[i]))
        ax.scatter(traj[0, :, 0], traj[0, :, 1], s=12, c="grey", label="start (t = 1)")
        ax.scatter(end[:, 0], end[:, 1], s=25, c=[colours(k) for k in nearest], label="end (t = 0)")
        ax.scatter(dist.means[:, 0], dist.means[:, 1], marker="*", s=250, c="k", label="point mass")
        ax.set(title=f"{name}: {label.upper()}, {steps} steps, {traj.shape[1]} trajectories", aspect="equal")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def scatter_figure(train, samples, loss, name):
    """Training data and each sampler's samples on equal axes, and the loss curve."""
    panels = [("training data", train[: len(next(iter(samples.values())))])]
    panels += [(f"{_run_of(p)[0].upper()}, {_run_of(p)[1]} steps", x) for p, x in samples.items()]
    n = len(panels) + (loss is not None)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2))
    lim = 1.15 * np.abs(train).max()
    for ax, (title, x) in zip(axes, panels):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
        ax.set(title=f"{name}: {title}", xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    if loss is not None:
        ax = axes[-1]
        ax.plot(loss["step"], loss["loss"], lw=0.3, alpha=0.4)
        smooth = loss["loss"].rolling(50, min_periods=1).mean()
        ax.plot(loss["step"], smooth, lw=1.5)
        ax.set(title="training loss", xlabel="step", yscale="log")
    fig.tight_layout()
    return fig


STEP_METRICS = {"1": ["ks_exact", "w1_data"], "2": ["energy", "sw2"]}


def steps_figure(table, name, path):
    """Each metric against steps on log-log axes, one line per sampler and grid,
    the noise floor as a band; for 1-D Gaussians the exact prediction dashed."""
    main = table[table["denoiser"] == table["denoiser"].iloc[0]]
    metrics = [m for m in ("ks_data", "w1_data", "energy", "sw2") if m in set(main["metric"])]
    fig, axes = plt.subplots(
        1,
        len(metrics) + ("exact_mean" in set(main["metric"])),
        figsize=(5 * (len(metrics) + 1), 4),
        squeeze=False,
    )
    axes = axes[0]
    colours = plt.get_cmap("tab10")
    runs = main.groupby(["sampler", "grid"])
    for ax, metric in zip(axes, metrics):
        for k, ((sampler, grid), rows) in enumerate(runs):
            rows = rows[rows["metric"] == metric].sort_values("steps")
            ax.plot(
                rows["steps"],
                rows["value"].clip(lower=1e-6),
                "o-",
                color=colours(k),
                label=f"{sampler}, {grid} grid",
            )
        floor = main.loc[main["metric"] == metric, "noise_floor"].dropna()
        if len(floor):
            f = floor.iloc[0]
            ax.axhspan(1e-6, max(f, 1e-6), color="grey", alpha=0.25, label="noise floor")
        ax.set(xscale="log", yscale="log", xlabel="steps", title=f"{name}: {metric}")
        ax.legend(fontsize=8)
    if "exact_mean" in set(main["metric"]):
        ax = axes[-1]
        for k, ((sampler, grid), rows) in enumerate(runs):
            wide = rows.pivot_table(index="steps", columns="metric", values="value")
            ax.plot(wide.index, wide["mean"], "o", color=colours(k), label=f"{sampler}, {grid}: sample")
            ax.plot(wide.index, wide["exact_mean"], "--", color=colours(k), label="exact")
        ax.set(xscale="log", xlabel="steps", title=f"{name}: output mean, measured vs exact")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
