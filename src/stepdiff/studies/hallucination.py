"""The hallucination study (docs/theory.md section 21): where samples between
the modes come from, and how well a trajectory's variance finds them.

Aithal et al.'s laws (``hallucination.grid_2d``, its rotated control,
``modes_1d``), each sampled from the same starts with its exact denoiser
(the law's own tail), the ideal denoiser of a subsample of its training set
(point masses: the finite data's best fit) and a network trained on the
whole set, under each sampler (their DDPM with 1000 steps, and few-step
deterministic ones). A sample is a hallucination when it is more than ``k``
component stds from every mode (exact labels); the rates carry binomial
errors and sit beside the law's exact tail. Their detector, the variance of
the predicted ``x0`` over a window of calls (each of ``windows`` by noise
level, and their last ``m`` calls), is scored against those labels by ROC, AUC with its error and
the fraction removed at ``kept``; optionally the same on the Swiss roll with
a shared network, labelled by the distance to the curve. Only numpy and
scipy here: jobs start fast.
"""

from __future__ import annotations

import numpy as np

from .. import hallucination as hall
from .. import process, runner
from ..data import from_config, on_curve, point_masses
from ..grids import times
from ..jobs.networks import training
from ..registry import SAMPLERS, ConfigError, network_entry, parse_label, run_label, sampler_of, sampler_runs
from ..seeds import rng_for

SECTION = "hallucination"  # its config section: every entry there is one study of this kind
LAWS = ("grid", "rotated", "modes")  # their 2-D grid, its rotated control, their 1-D modes
FLOOR = 1e-5  # where the figure draws a rate of 0 (a log axis)
LAST = "last"  # the window of their last m calls (the others: ``windows``, by noise level)
COLUMNS = ("law", "denoiser", "sampler", "grid", "steps", "nfe", "n", "metric", "k", "window", "value", "se")
KEYS = {
    "train": ("laws", "model", "n_train", "seed", "sigma"),
    "run": (
        "ideal_points",
        "k",
        "k_tail",
        "kept",
        "last_calls",
        "laws",
        "model",
        "n_samples",
        "n_train",
        "roll",
        "roll_network",
        "samplers",
        "seed",
        "sigma",
        "windows",
    ),
    "figure": ("k", "kept"),
}


def roll_network(spec: dict, config: dict):
    """What the run needs of the shared network the roll runs with: the law
    it learned (its curve: the labels) and its smallest trained level (where
    the grid stops). None without a ``roll`` section."""
    if "roll" not in spec:
        return None
    net = config["networks"][spec["roll"]["network"]]
    return {"data": {k: v for k, v in net["data"].items() if k != "n"}, "level": net["levels"][0]}


DERIVED = {"roll_network": roll_network}
DATA = ()  # no data job: each law's training set is drawn where it is used (networks, run)


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Hallucination study **{study}** (docs/theory.md section 21): Aithal et al.'s laws (25
Gaussians on a grid, the grid turned by 45 degrees, 1-D modes at 1, 2, 3), each sampled from one
draw of starts with its exact denoiser, the ideal denoiser of a subsample of its training set and a
network trained on it; a sample is a hallucination when it is more than :math:`k` component stds from every
mode (an exact label). Top left: the grid network's few-step deterministic samples, hallucinations in
red. Top middle: the rotated grid's, coloured by where the hallucinations sit (between nearest
neighbours, along the lattice's axes, or towards a cell's centre). Top right: the Swiss roll's
samples with the shared network, coloured by the detector's score (labels: farther than the
threshold from the curve). Bottom left: the detector's score (the variance of the predicted :math:`x_0` over
the calls in each window) of each grid sample of the few-step run against its distance to the nearest
mode. Bottom middle: ROC curves of the detector for the grid network's runs and the roll, one line
style per window (AUC with one standard error in the legend). Bottom right: hallucination rates with
one standard error for every law, denoiser and sampler, beside the law's exact tail (lines)."""


def figure_experiments(spec: dict) -> list[str]:
    return []


def shared_networks(spec: dict) -> list[str]:
    """The shared network of the roll's runs (none without a ``roll`` section)."""
    return [spec["roll"]["network"]] if "roll" in spec else []


def window_calls(sigma: float, label: str, steps: int, t_min: float, window) -> int:
    """How many grid times of a diffusion run (where a sampler calls its
    denoiser; the last, t = 0, is never called) sit in the noise-level window."""
    levels = [sigma * t**0.5 for t in times(steps, parse_label(label)[1], t_min)[:-1]]
    return sum(window[0] <= s <= window[1] for s in levels)


def check(spec: dict, key: str, config: dict) -> None:
    if LAST in spec["windows"]:
        raise ConfigError(f"{key}.windows: {LAST!r} names the window of the last_calls")
    for window, (lo, hi) in spec["windows"].items():
        if not lo < hi:
            raise ConfigError(f"{key}.windows.{window}: [{lo}, {hi}] is not increasing")
        for label, steps in sampler_runs(spec):
            if window_calls(spec["sigma"], label, steps, spec["model"]["t_min"], (lo, hi)) < 2:
                raise ConfigError(
                    f"{key}.windows.{window}: [{lo}, {hi}] holds fewer than 2 calls of {label} with "
                    f"{steps} steps; widen it or add steps"
                )
    if spec["k_tail"] > spec["k"]:
        raise ConfigError(
            f"{key}.k_tail: {spec['k_tail']} above k = {spec['k']}: the tail is checked where measurable"
        )
    if spec["ideal_points"] > spec["n_train"]:
        raise ConfigError(f"{key}.ideal_points: {spec['ideal_points']} above n_train = {spec['n_train']}")
    if "roll" in spec:
        roll = spec["roll"]
        net = network_entry(config, roll["network"], f"{key}.roll.network")
        if not on_curve(from_config(net["data"])):
            raise ConfigError(
                f"{key}.roll.network: {roll['network']} learned data off a curve "
                "(a swiss_roll, or a spiral with noise 0, is needed)"
            )
        sampler_of(roll["sampler"], "diffusion", f"{key}.roll.sampler")


def law_of(name: str):
    """The law a ``laws`` entry names (a function, not a table: the
    training job's code fingerprint then reaches the laws it draws)."""
    return hall.modes_1d() if name == "modes" else hall.grid_2d(rotated=name == "rotated")


def train_set(params: dict, name: str, law: str) -> np.ndarray:
    """A law's training set: ``n_train`` draws (the network's; the ideal
    denoiser takes its first ``ideal_points``)."""
    return law_of(law).sample(params["n_train"], rng_for(params["seed"], name, "train", law))


def networks(params: dict, name: str, inputs: dict) -> list:
    """One network per law, on its training set, all with the study's torch seed."""
    exp = {k: params[k] for k in ("model", "seed", "sigma")}
    return [(law, training(exp, name, train_set(params, name, law))) for law in params["laws"]]


def detect(denoiser, proc, params: dict):
    """``denoiser`` wrapped so that one run records every window's calls
    (a ``Recorder`` each, nested): returns the wrapped denoiser and
    ``{window name: (recorder, window)}``."""
    last = hall.LastCalls(params["last_calls"])
    wrapped = hall.Recorder(denoiser, last)
    recorders = {LAST: (wrapped, last)}
    for name, (lo, hi) in params["windows"].items():
        window = hall.NoiseLevels(lo, hi)
        wrapped = hall.Recorder(wrapped, window, proc)
        recorders[name] = (wrapped, window)
    return wrapped, recorders


def scored(labels, recorders, proc, kept) -> tuple[dict, dict]:
    """Per window: the detector's scores, and its AUC and removed fraction
    (where the run has both hallucinations and in-support samples, and the
    window at least two calls)."""
    scores, estimates = {}, {}
    for window, (recorder, win) in recorders.items():
        try:
            score = hall.trajectory_variance(recorder.records, proc, win)
        except ValueError:  # fewer than two calls (check() refuses it but on the roll's grid)
            continue
        scores[window] = score
        if labels.any() and not labels.all():
            estimates[window] = {
                "auc": hall.auc_se(score, labels),
                "removed": hall.removed_at_kept(score, labels, kept),
            }
    return scores, estimates


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """Every law under every sampler run with its exact denoiser, the ideal
    denoiser of ``ideal_points`` of its training points and its network
    (``networks[law]``), all from the same starts and noise; then the roll.
    Rows of ``COLUMNS``; arrays: each run's samples, labels and scores."""
    proc, n, k, k_tail = (
        process.Diffusion(float(params["sigma"])),
        params["n_samples"],
        params["k"],
        params["k_tail"],
    )
    t_min = params["model"]["t_min"]
    rows, arrays = [], {}

    def add(law, denoiser, run, metric, value, se=0.0, kk=None, window=""):
        rows.append(dict(zip(COLUMNS, (law, denoiser, *run, metric, kk, window, float(value), float(se)))))

    for law_name in params["laws"]:
        law = law_of(law_name)
        train = train_set(params, name, law_name)
        for kk in (k_tail, k):
            add(law_name, "law", ("none", "none", 0, 0, 0), "tail", hall.tail_probability(law, kk), 0.0, kk)
            add(
                law_name,
                "train",
                ("none", "none", 0, 0, len(train)),
                "rate",
                *hall.rate(hall.hallucinated(law, train, kk)),
                kk,
            )
        denoisers = {
            "exact": process.exact_denoiser(proc, law),
            "ideal": process.exact_denoiser(proc, point_masses(train[: params["ideal_points"]])),
            "network": networks[law_name],
        }
        for label, steps in sampler_runs(params):
            sampler, grid = parse_label(label)
            x1 = proc.source(n, law.dim, rng_for(params["seed"], name, "start", law_name))
            run = (sampler, grid, steps, runner.count_nfe(proc, label, steps, t_min), n)
            for kind, denoiser in denoisers.items():
                wrapped, recorders = detect(denoiser, proc, params)
                noise = rng_for(params["seed"], name, "noise", law_name, label, steps)
                x = runner.run(wrapped, proc, label, steps, x1, noise, t_min)
                distance = hall.distance(law, x)
                for kk in (k_tail, k):
                    add(law_name, kind, run, "rate", *hall.rate(distance > kk), kk)
                labels = distance > k
                if law.dim == 2:
                    where = hall.between(law, x)
                    add(law_name, kind, run, "lattice_axis", *hall.rate(labels & (where == hall.AXIS)), k)
                    add(
                        law_name,
                        kind,
                        run,
                        "lattice_diagonal",
                        *hall.rate(labels & (where == hall.DIAGONAL)),
                        k,
                    )
                scores, estimates = scored(labels, recorders, proc, params["kept"])
                for window, values in estimates.items():
                    for metric, estimate in values.items():
                        add(law_name, kind, run, metric, *estimate, k, window)
                key = f"{law_name}-{kind}-{label}-{steps}"
                arrays[key], arrays[f"{key}-distance"] = x, distance
                arrays.update({f"{key}-score-{w}": s for w, s in scores.items()})
    if "roll" in params:
        rows += roll_rows(params, name, networks, arrays)
    return rows, arrays


def roll_rows(params: dict, name: str, networks: dict, arrays: dict) -> list[dict]:
    """The detector on the Swiss roll: the shared network (``networks`` by its
    name) served under the roll's diffusion, its grid down to the network's
    smallest level; labels: farther than ``curve_threshold`` from the curve."""
    roll, derived = params["roll"], params["roll_network"]
    proc, n, threshold = process.Diffusion(float(roll["sigma"])), roll["n_samples"], roll["curve_threshold"]
    t_min = (derived["level"] / roll["sigma"]) ** 2
    dist = from_config(derived["data"])
    label, steps = roll["sampler"], roll["steps"]
    sampler, grid = parse_label(label)
    run = (sampler, grid, steps, runner.count_nfe(proc, label, steps, t_min), n)
    wrapped, recorders = detect(networks[roll["network"]].serving(proc), proc, params)
    x1 = proc.source(n, dist.dim, rng_for(params["seed"], name, "start", "roll"))
    x = runner.run(wrapped, proc, label, steps, x1, rng_for(params["seed"], name, "noise", "roll"), t_min)
    distance = hall.distance(dist, x)
    labels = distance > threshold
    rows = [dict(zip(COLUMNS, ("roll", "network", *run, "rate", threshold, "", *hall.rate(labels))))]
    scores, estimates = scored(labels, recorders, proc, params["kept"])
    for window, values in estimates.items():
        for metric, (value, se) in values.items():
            rows.append(dict(zip(COLUMNS, ("roll", "network", *run, metric, threshold, window, value, se))))
    key = f"roll-network-{label}-{steps}"
    arrays[key], arrays[f"{key}-distance"] = x, distance
    arrays.update({f"{key}-score-{w}": s for w, s in scores.items()})
    return rows


def _runs(table, law, denoiser):
    """The (label, steps) of a law and denoiser's runs, in table order."""
    part = table[(table["law"] == law) & (table["denoiser"] == denoiser)]
    return list(
        dict.fromkeys(
            (run_label(s, g), int(n)) for s, g, n in zip(part["sampler"], part["grid"], part["steps"])
        )
    )


def _value(table, law, denoiser, label, steps, metric, window=""):
    sampler, grid = parse_label(label)
    row = table[
        (table["law"] == law)
        & (table["denoiser"] == denoiser)
        & (table["sampler"] == sampler)
        & (table["grid"] == grid)
        & (table["steps"] == steps)
        & (table["metric"] == metric)
        & (table["window"].fillna("") == window)
    ]
    return (row["value"].iloc[0], row["se"].iloc[0]) if len(row) else None


def _best_window(table, law, label, steps):
    """The window whose AUC is highest for one run (None without one)."""
    aucs = {
        w: _value(table, law, "network", label, steps, "auc", w) for w in table["window"].dropna().unique()
    }
    aucs = {w: a[0] for w, a in aucs.items() if a is not None}
    return max(aucs, key=aucs.get) if aucs else None


def _few_step(runs):
    """The deterministic run with the fewest steps (their detector's best
    case here), else the first run."""
    det = [r for r in runs if not SAMPLERS[parse_label(r[0])[0]].stochastic]
    return min(det, key=lambda r: r[1]) if det else runs[0]


RESULT_TABLES = ("rates", "detector")  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``rates``: each law and run's hallucination rate (beyond ``k`` stds)
    under the exact denoiser (beside the law's exact tail), the ideal
    denoiser and the network, and the network's split along the lattice's
    axes and diagonals; ``detector``: the network's AUC and the fraction
    removed at the kept fraction, for each window (the roll's too). Markdown."""
    from ..tables import markdown, pm

    table = table.fillna({"window": ""})
    runs = table[(table["sampler"] != "none") & (table["law"] != "roll")]
    k = runs["k"].max()  # the label's k (k_tail is the smaller)
    runs = runs[runs["k"] == k]

    def cell(part, denoiser, metric, window=""):
        row = part[(part["denoiser"] == denoiser) & (part["metric"] == metric) & (part["window"] == window)]
        return pm(row["value"].iloc[0], row["se"].iloc[0]) if len(row) else ""

    groups = runs.groupby(["law", "sampler", "grid", "steps"], sort=False)
    if key == "rates":
        tails = table[(table["denoiser"] == "law") & (table["k"] == k)].set_index("law")["value"]
        rows = [
            [
                law,
                f"{run_label(sampler, grid)}, {steps}",
                f"{cell(part, 'exact', 'rate')} (exact {tails[law]:.5f})",
                cell(part, "ideal", "rate"),
                cell(part, "network", "rate"),
                cell(part, "network", "lattice_axis"),
                cell(part, "network", "lattice_diagonal"),
            ]
            for (law, sampler, grid, steps), part in groups
        ]
        header = ["law", "sampler, grid, steps", "exact (law's tail)", "ideal", "network"]
        return markdown([*header, "network, along a lattice axis", "network, along a diagonal"], rows)
    if key == "detector":
        windows = [w for w in dict.fromkeys(table["window"]) if w]
        roll = table[table["law"] == "roll"].groupby(["law", "sampler", "grid", "steps"], sort=False)
        rows = [
            [law, f"{run_label(sampler, grid)}, {steps}", cell(part, "network", "rate")]
            + [cell(part, "network", m, w) for w in windows for m in ("auc", "removed")]
            for group in (groups, roll)
            for (law, sampler, grid, steps), part in group
        ]
        header = [f"{m}, {w}" for w in windows for m in ("AUC", "removed")]
        return markdown(["law", "sampler, grid, steps", "network's rate", *header], rows)
    raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")


def figure(table, arrays, data_sets, tables, spec, name, path):
    """Samples by label, the detector's score, ROC curves and every rate
    against the law's exact tail (see ``CAPTION``)."""
    from .. import plots  # matplotlib: only the figure job imports it

    k = spec["k"]
    fig, axes = plots.plt.subplots(2, 3, figsize=(17, 10.5))
    laws = list(dict.fromkeys(table.loc[table["law"] != "roll", "law"]))
    # top left and middle: the 2-D laws' network samples, by label
    for ax, law in zip(axes[0, :2], [law for law in ("grid", "rotated") if law in laws]):
        label, steps = _few_step(_runs(table, law, "network"))
        key = f"{law}-network-{label}-{steps}"
        x, far = arrays[key], arrays[f"{key}-distance"] > k
        means = law_of(law).means
        ax.scatter(*x[~far].T, s=2, color="0.6", label="within k stds of a mode")
        if law == "grid":
            ax.scatter(*x[far].T, s=6, color="tab:red", label=f"hallucination (> {k:g} stds)")
        else:
            where = hall.between(means, x[far]) if far.any() else np.array([])
            for kind, colour, text in (
                (hall.AXIS, "tab:red", "between nearest neighbours (lattice axis)"),
                (hall.DIAGONAL, "tab:purple", "towards a cell centre (lattice diagonal)"),
            ):
                ax.scatter(*x[far][where == kind].T, s=6, color=colour, label=text)
        ax.scatter(*means.T, marker="+", color="k", s=30, lw=0.8, label="modes")
        ax.set(aspect="equal", title=f"{law}: network, {label} {steps} steps")
        ax.legend(fontsize=7, loc="lower right")
    # top right: the roll, coloured by the score of its best window
    ax = axes[0, 2]
    roll_runs = _runs(table, "roll", "network")
    best = _best_window(table, "roll", *roll_runs[0]) if roll_runs else None
    if best is not None:
        key = f"roll-network-{roll_runs[0][0]}-{roll_runs[0][1]}"
        dots = ax.scatter(
            *arrays[key].T, s=3, c=np.log10(arrays[f"{key}-score-{best}"] + 1e-12), cmap="viridis"
        )
        fig.colorbar(dots, ax=ax, label=f"log10 detector score ({best})")
        ax.set(aspect="equal", title=f"roll: shared network, {roll_runs[0][0]} {roll_runs[0][1]} steps")
    else:
        ax.set_axis_off()
    windows = list(dict.fromkeys(table["window"].dropna()))
    styles = dict(zip(windows, ("-", "--", ":", "-.") * len(windows)))
    # bottom left: the score in each window against the distance to the nearest mode (grid, network)
    ax = axes[1, 0]
    if "grid" in laws:
        label, steps = _few_step(_runs(table, "grid", "network"))
        key = f"grid-network-{label}-{steps}"
        for i, window in enumerate(windows):
            if f"{key}-score-{window}" in arrays:
                score = arrays[f"{key}-score-{window}"]
                ax.scatter(
                    arrays[f"{key}-distance"], score + 1e-20, s=2, alpha=0.5, color=f"C{i}", label=window
                )
        ax.axvline(k, color="k", lw=0.8, ls=":")
        ax.set(
            xscale="log", yscale="log", xlabel="distance to the nearest mode (stds)", ylabel="detector score"
        )
        ax.set_title(f"grid, network, {label} {steps}: score against the label", fontsize=10)
        ax.legend(fontsize=7, markerscale=4, title="window")
    # bottom middle: ROC curves
    ax = axes[1, 1]
    curves = [("grid", *run) for run in _runs(table, "grid", "network")] if "grid" in laws else []
    curves += [("roll", *run) for run in roll_runs]
    for law, label, steps in curves:
        key = f"{law}-network-{label}-{steps}"
        cut = table.loc[(table["law"] == law) & (table["metric"] == "auc"), "k"]
        for window in windows:
            auc = _value(table, law, "network", label, steps, "auc", window)
            if auc is None:
                continue
            fpr, tpr, _ = hall.roc(arrays[f"{key}-score-{window}"], arrays[f"{key}-distance"] > cut.iloc[0])
            colour = SAMPLERS[parse_label(label)[0]].colour if law != "roll" else "k"
            text = f"{law} {label} {steps}, {window}: AUC {auc[0]:.3f} ± {auc[1]:.3f}"
            ax.plot(fpr, tpr, styles[window], color=colour, lw=1, label=text)
    ax.axvline(1 - spec["kept"], color="grey", lw=0.6)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.6)
    ax.set(xlabel="in-support samples flagged", ylabel="hallucinations flagged", title="the detector's ROC")
    ax.legend(fontsize=6, loc="lower right")
    # bottom right: every rate with its error, beside the exact tail
    ax = axes[1, 2]
    rates = table[(table["metric"] == "rate") & (table["k"] == k) & ~table["denoiser"].isin(["train"])]
    rates = rates[rates["law"] != "roll"]
    ticks = []
    for i, row in enumerate(rates.itertuples()):
        marker = {"exact": "o", "ideal": "s", "network": "^"}[row.denoiser]
        colour = SAMPLERS[row.sampler].colour
        ax.errorbar(i, max(row.value, FLOOR), yerr=row.se, fmt=marker, color=colour, capsize=2)
        ticks.append(f"{row.law} {row.denoiser} {run_label(row.sampler, row.grid)} {row.steps}")
    for law in laws:
        tail = table[(table["law"] == law) & (table["metric"] == "tail") & (table["k"] == k)]["value"].iloc[0]
        where = np.flatnonzero(rates["law"].to_numpy() == law)
        ax.hlines(tail, where.min() - 0.4, where.max() + 0.4, color="k", lw=1)
    ax.set_xticks(range(len(ticks)), ticks, rotation=90, fontsize=5)
    ax.set(
        yscale="log",
        ylabel=f"fraction beyond {k:g} stds of every mode",
        title=f"rates (lines: the law's exact tail; none at all: drawn at {FLOOR:g})",
    )
    ax.set_ylim(FLOOR / 2, 1)
    fig.suptitle(f"{name}: hallucinations by mode interpolation, and their detector", fontsize=11)
    fig.tight_layout()
    plots.save(fig, path)
