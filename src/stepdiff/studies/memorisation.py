"""Memorisation (docs/theory.md section 11): does a sampler return its training points?

A study trains a network on the first ``N`` points of one draw of the data,
for each ``N`` in its ``sizes`` (nested training sets: only ``N`` changes),
and samples it and the ideal denoiser of the same ``N`` points (their
point-mass mixture, whose samples land on training points as ``t -> 0``)
from the same starts. Only numpy and scipy here: jobs start fast.
"""

from __future__ import annotations

import numpy as np

from .. import process, runner
from ..data import from_config, point_masses
from ..jobs.networks import training
from ..registry import ConfigError, parse_label, run_label, sampler_runs
from ..seeds import rng_for

RATIO = 3.0  # memorised: |x - NN1| < |x - NN2| / RATIO (Gu et al. 2023)


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Memorisation study **{study}** (docs/theory.md section 11): training sets of :math:`N`
points (the first :math:`N` of one draw of the data), each sampled with its ideal denoiser (the
point-mass mixture of the :math:`N` points) and with a network trained on them, from the same starts.
Left: the fraction of samples closer to their nearest training point than a third of the way
to the second; the dotted line is that fraction for a fresh draw of the data (chance level:
about :math:`1/3` on a curve), and the vertical line marks where the network's fraction falls through
one half. Second: the energy distance to held-out data with one standard error, and the noise
floor. Right: samples over the training points for the smallest and the largest :math:`N`."""


def nearest_two(x, points):
    """Distances from each row of ``x`` to its nearest and second-nearest ``points``."""
    from scipy.spatial import cKDTree  # not for the Snakefile, which reads KEYS and check

    d, _ = cKDTree(points).query(x, k=2)
    return d[:, 0], d[:, 1]


def memorised(x, train) -> float:
    """The fraction of samples ``x`` that copy a training point: closer to
    their nearest training point than a third of the way to the second."""
    d1, d2 = nearest_two(np.asarray(x, dtype=float), np.asarray(train, dtype=float))
    return float(np.mean(d1 < d2 / RATIO))


SECTION = "memorisation"  # its config section: every entry there is one study of this kind
COLUMNS = ("size", "sampler", "grid", "steps", "nfe", "denoiser", "n", "metric", "value", "crossing")
# its data job is an experiment's (jobs.make_data: the training set is data.n
# points, the held-out set n_samples); its networks are a 64 x 3 recipe at each size
KEYS = {
    "data": ("data", "n_samples", "seed"),
    "train": ("model", "seed", "sigma", "sizes"),
    "run": ("data", "model", "n_samples", "samplers", "seed", "sigma", "sizes"),
    "figure": (),
}
DERIVED: dict = {}
DATA = ("train", "test")  # the study's data sets (results/studies/{study}/{split}.npy)


def figure_experiments(spec: dict) -> list[str]:
    return []


def check(spec: dict, key: str, config: dict) -> None:
    if "n" not in spec["data"]:
        raise ConfigError(f"{key}.data: a kind with a training-set size n (swiss_roll, spiral) is needed")
    too_big = [n for n in spec["sizes"] if n > spec["data"]["n"]]
    if too_big:
        n = spec["data"]["n"]
        raise ConfigError(f"{key}.sizes: {too_big} above data.n = {n}, the largest training set")


def networks(params: dict, name: str, inputs: dict) -> list:
    """One network per size ``N``, on the first ``N`` training points; all
    with the study's torch seed, so only ``N`` changes between them."""
    exp = {k: params[k] for k in ("model", "seed", "sigma")}
    return [(f"n{size}", training(exp, name, inputs["train"][:size])) for size in params["sizes"]]


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """:func:`study_rows` with the crossing of each sampler's learned runs
    (where the memorised fraction falls through one half) as a column.
    ``networks``: ``{f"n{size}": denoiser}``."""
    nets = {size: networks[f"n{size}"] for size in params["sizes"]}
    rows, samples = study_rows(params, name, inputs["train"], inputs["test"], nets)
    return with_crossing(rows), samples


def with_crossing(rows: list[dict]) -> list[dict]:
    """Each row with the crossing N of its sampler and denoiser's memorised
    fractions against size (None where they never cross one half)."""
    groups: dict = {}
    for r in rows:
        if r["metric"] == "memorised":
            groups.setdefault((r["sampler"], r["grid"], r["steps"], r["denoiser"]), []).append(r)
    cross = {g: crossing([r["size"] for r in rs], [r["value"] for r in rs]) for g, rs in groups.items()}
    return [{**r, "crossing": cross.get((r["sampler"], r["grid"], r["steps"], r["denoiser"]))} for r in rows]


def study_rows(spec: dict, name: str, train, test, networks: dict) -> tuple[list[dict], dict]:
    """Every run of a study: for each training-set size ``N`` and sampler run,
    the ideal denoiser of ``train[:N]`` and the network ``networks[N]``, both
    from the same starts and noise; and a fresh draw of the data (``denoiser
    = data``: the metrics' chance level and floor). Returns table rows
    (``COLUMNS``: memorised fraction, energy distance to ``test`` with its
    standard error, nearest-neighbour distance to ``test``) and the samples,
    keyed ``{denoiser}-n{N}-{label}-{steps}``."""
    from ..metrics import energy_distance_se, nn_median_se, self_distances

    proc, n = process.Diffusion(float(spec["sigma"])), spec["n_samples"]
    t_min = spec["model"]["t_min"]  # ideal and learned runs share the network's grid
    fresh = from_config(spec["data"]).sample(n, rng_for(spec["seed"], name, "fresh"))
    rows, samples, test_self = [], {}, self_distances(test)

    def add(run, x):
        energy, se = energy_distance_se(x, test, test_self)
        values = {"memorised": memorised(x, train[: run[0]]), "energy": energy, "energy_se": se}
        values["nn_median"], values["nn_median_se"] = nn_median_se(x, test)
        rows.extend(dict(zip(COLUMNS, (*run, metric, value))) for metric, value in values.items())

    for size in spec["sizes"]:
        add((size, "none", "none", 0, 0, "data", n), fresh)
        ideal = process.exact_denoiser(proc, point_masses(train[:size]))
        for label, steps in sampler_runs(spec):
            sampler, grid = parse_label(label)
            x1 = proc.source(n, train.shape[1], rng_for(spec["seed"], name, "start", label, steps))
            nfe = runner.count_nfe(proc, label, steps, t_min)
            for kind, denoiser in (("ideal", ideal), ("learned", networks[size])):
                noise = rng_for(spec["seed"], name, "noise", label, steps)
                x = runner.run(denoiser, proc, label, steps, x1, noise, t_min)
                add((size, sampler, grid, steps, nfe, kind, n), x)
                samples[f"{kind}-n{size}-{label}-{steps}"] = x
    return rows, samples


def crossing(sizes, fractions, level=0.5):
    """The training-set size where the memorised fraction falls through
    ``level``, interpolated linearly in log N between the sizes around it;
    None when it never does."""
    order = np.argsort(sizes)
    n, f = np.log(np.asarray(sizes, dtype=float)[order]), np.asarray(fractions, dtype=float)[order]
    for i in range(len(n) - 1):
        if f[i] >= level > f[i + 1]:
            return float(np.exp(n[i] + (f[i] - level) / (f[i] - f[i + 1]) * (n[i + 1] - n[i])))
    return None


RESULT_TABLES = ("fractions", "energy")  # docs/results.md's tables of this study (``result_table``)


def _columns(table) -> list[tuple[str, dict]]:
    """The tables' columns: each run (ideal and network, by sampler; with the
    grid and steps where the runs differ in them), then the fresh draw, as
    (label, the run's keys in the table) pairs."""
    from ..tables import sampler_name

    runs = table[table["denoiser"] != "data"][["denoiser", "sampler", "grid", "steps"]].drop_duplicates()
    runs = runs.sort_values(["denoiser", "sampler", "grid", "steps"])
    several = len(runs[["grid", "steps"]].drop_duplicates()) > 1
    columns = []
    for run in runs.itertuples(index=False):
        name = f"{'ideal' if run.denoiser == 'ideal' else 'network'}, {sampler_name(run.sampler)}"
        columns.append((f"{name}, {run.grid}, {run.steps}" if several else name, run._asdict()))
    return columns + [("fresh data", {"denoiser": "data"})]


def result_table(table, key: str) -> str:
    """``fractions``: the memorised fraction of each run by training-set
    size, and where each network's falls through one half (with the sizes
    where it does once every fraction moves one standard error down, then
    up); ``energy``: the same runs' energy distance to held-out data.
    Markdown."""
    import pandas as pd

    from ..tables import binomial, markdown, pm, select

    columns, sizes = _columns(table), sorted(table["size"].unique())
    header = ["N", *(label for label, _ in columns)]
    if key == "energy":
        rows = []
        for size in sizes:
            cells = []
            for _, keys in columns:
                r = select(table, size=size, **keys)
                cells.append(pm(r.at["energy", "value"], r.at["energy_se", "value"]))
            rows.append([size, *cells])
        return markdown(header, rows)
    if key != "fractions":
        raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")
    fractions = {}
    for label, keys in columns:
        for size in sizes:
            r = select(table, size=size, **keys)
            fractions[label, size] = (r.at["memorised", "value"], int(r["n"].iloc[0]))
    rows = [[size, *(binomial(*fractions[label, size]) for label, _ in columns)] for size in sizes]
    lines = []
    for label, keys in columns:
        if keys["denoiser"] != "learned":
            continue
        f = pd.Series([fractions[label, size][0] for size in sizes])
        se = (f * (1 - f) / pd.Series([fractions[label, size][1] for size in sizes])) ** 0.5
        found = [crossing(sizes, f + shift) for shift in (0, -se, se)]
        if None in found:
            lines.append(f"* {label}: not through one half at every fraction ± one standard error.")
        else:
            lines.append(f"* {label}: N = {found[0]:.1f} ({found[1]:.1f} to {found[2]:.1f})")
    crossings = "Where the network's fraction falls through one half (the interval: every fraction "
    crossings += "moved one standard error down, then up):\n\n" + "\n".join(lines)
    return markdown(header, rows) + "\n\n" + crossings


def figure(table, samples, data_sets, tables, spec, name, path):
    """Memorised fraction and energy distance against the training-set size N,
    ideal and learned, for each sampler, with a fresh draw of the data as the
    chance level and floor; and the first sampler's samples over the training
    points for the smallest and the largest N."""
    from .. import plots  # matplotlib: only the figure job imports it

    train = data_sets["train"]
    runs = table[table["denoiser"] != "data"]
    labels = list(dict.fromkeys(zip(runs["sampler"], runs["grid"], runs["steps"])))
    data = table[table["denoiser"] == "data"].pivot_table(index="size", columns="metric", values="value")
    fig, axes = plots.plt.subplots(1, 4, figsize=(18, 4.4))
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
    plots.distance_scale(axes[1], "energy")
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
    plots.save(fig, path)
