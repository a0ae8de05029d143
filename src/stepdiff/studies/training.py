"""The training study (docs/theory.md section 17): what closes the network's gap.

From one base recipe (its ``model`` section), each variant changes one or
more model keys (``variants``: the prediction target, the input's Fourier
octaves, width, depth, an average of the weights, the number of steps). Every
network trains on one draw of data on a curve with the study's torch seed,
and samples from the same starts with the study's sampler; each is scored by
its distance to the curve (median, 99th percentile, fraction beyond
``curve_threshold``), by the energy distance to held-out data, by its error
against the exact denoiser at each noise level (``errors.error_curve``,
paired: the same ``x_t`` for every variant), and by what its training cost
(CPU-seconds, measured: not bit for bit). The exact denoiser's run is the
floor (``variant = exact``).
"""

from __future__ import annotations

import numpy as np

from .. import errors, process, runner
from ..data import from_config, on_curve
from ..grids import last_time
from ..jobs.networks import training
from ..registry import SAMPLERS, ConfigError, sampler_of
from ..seeds import rng_for

BASE, EXACT = "base", "exact"  # the base recipe's row, the exact denoiser's row
CHANGED = ("target", "octaves", "hidden", "layers", "ema", "steps", "batch_size")  # the table's model columns
SECTION = "training"  # its config section: every entry there is one study of this kind
COLUMNS = (
    "variant",
    "change",
    *CHANGED,
    "train_cpu_s",
    "final_loss",
    "nfe",
    "n",
    "curve_median",
    "curve_median_se",
    "curve_p99",
    "curve_p99_se",
    "curve_far",
    "curve_far_se",
    "energy",
    "energy_se",
    "error_small",
    "error_small_se",
)
KEYS = {
    "data": ("data", "n_samples", "seed"),
    "train": ("model", "variants", "seed", "sigma"),
    "run": ("data", "model", "variants", "sampler", "steps", "n_samples", "curve_threshold", "seed", "sigma"),
    "figure": ("sampler", "steps", "curve_threshold"),
}
DERIVED: dict = {}
DATA = ("train", "test")  # an experiment's data sets: data.n training points, n_samples held out


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Training study **{study}** (docs/theory.md section 17): networks from one base
recipe, each variant changing what the table's change column says, trained on one draw of the data
with one torch seed and sampled from the same starts. Left: each network's mean squared error against
the exact denoiser over :math:`x_t \sim p_t` at each trained noise level (with one standard error), beside the
task's own error (dashed: what no denoiser can know). Middle: the samples' median distance to the curve
and the fraction farther than the threshold, with standard errors, and the CPU-seconds each network's
training took (measured by the job: not reproducible bit for bit). Right: the base recipe's samples and
those of the recipe farthest off the curve."""


def figure_experiments(spec: dict) -> list[str]:
    return []


def recipes(spec: dict) -> dict[str, dict]:
    """``{variant: model section}``: the base recipe, then each variant's
    changes on top of it."""
    return {BASE: spec["model"], **{k: {**spec["model"], **v} for k, v in spec["variants"].items()}}


def change(spec: dict, variant: str) -> str:
    """What a variant changes, as ``key=value`` pairs (``-`` for the base)."""
    return ", ".join(f"{k}={v}" for k, v in spec["variants"].get(variant, {}).items()) or "-"


def check(spec: dict, key: str, config: dict) -> None:
    if not on_curve(from_config(spec["data"])):
        raise ConfigError(f"{key}.data: data on a curve (swiss_roll, or spiral with noise 0) is needed")
    taken = {BASE, EXACT} & set(spec["variants"])
    if taken:
        raise ConfigError(f"{key}.variants: {sorted(taken)} name the base recipe and the exact denoiser")
    sampler, grid = sampler_of(spec["sampler"], "diffusion", f"{key}.sampler")
    if SAMPLERS[sampler].stochastic:
        raise ConfigError(f"{key}.sampler: {sampler} is not a deterministic diffusion sampler")
    t_min = spec["model"]["t_min"]
    last = last_time(spec["steps"], grid, t_min)
    if last < t_min * (1 - 1e-9):
        raise ConfigError(
            f"{key}.steps: {spec['sampler']} with {spec['steps']} steps queries the networks "
            f"at t = {last:.3g}, below the trained range (model.t_min = {t_min:g}); use the karras grid"
        )


def networks(params: dict, name: str, inputs: dict) -> list:
    """One network per recipe, all on the study's training set with its torch seed."""
    return [
        (
            variant,
            training(
                {"model": model, "seed": params["seed"], "sigma": params["sigma"]}, name, inputs["train"]
            ),
        )
        for variant, model in recipes(params).items()
    ]


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """Every recipe's run and error curve, and the exact denoiser's: rows of
    ``COLUMNS`` (``error_small``: the error at the smallest trained level),
    the samples (``{variant}``) and the error curves (``error-{variant}``:
    level, mean squared error, its standard error; ``error-exact``: the
    task's own, ``E ||D_exact - x0||^2``)."""
    from ..metrics import curve_scores, energy_distance_se  # scipy: not for the Snakefile

    spec, test = params, inputs["test"]
    dist, proc = from_config(spec["data"]), process.Diffusion(float(spec["sigma"]))
    exact, t_min, n = process.exact_denoiser(proc, dist), spec["model"]["t_min"], spec["n_samples"]
    label, steps = spec["sampler"], spec["steps"]
    x1 = proc.source(n, dist.dim, rng_for(spec["seed"], name, "start"))
    nfe = runner.count_nfe(proc, label, steps, t_min)
    rows, arrays = [], {}
    models = recipes(spec)
    # every network on the same x_t (paired differences), the exact denoiser once per level
    curves = errors.error_curves(
        {v: networks[v] for v in models}, exact, proc, test, rng_for(spec["seed"], name, "error"), t_min
    )
    first = curves[next(iter(models))]
    arrays["error-exact"] = np.array([[r["level"], r["exact_mse"], r["exact_mse_se"]] for r in first])
    for variant, denoiser in (*((v, networks[v]) for v in models), (EXACT, exact)):
        x = runner.run(denoiser, proc, label, steps, x1, t_min=t_min)
        arrays[variant] = x
        energy, energy_se = energy_distance_se(x, test)
        model = {"target": "x0", "octaves": 0, "ema": 0.0, **models[variant]} if variant in models else {}
        fit = getattr(denoiser, "fit", {})
        row = {
            "variant": variant,
            "change": change(spec, variant) if variant != EXACT else "exact denoiser",
            **{k: model.get(k) for k in CHANGED},
            "train_cpu_s": fit.get("cpu_s"),
            "final_loss": fit.get("final_loss"),
            "nfe": nfe,
            "n": n,
            **curve_scores(dist.distance(x), spec["curve_threshold"]),
            "energy": energy,
            "energy_se": energy_se,
        }
        if variant in curves:
            rows_of = curves[variant]
            arrays[f"error-{variant}"] = np.array(
                [[r["level"], r["network_mse"], r["network_mse_se"]] for r in rows_of]
            )
            row["error_small"], row["error_small_se"] = (
                rows_of[0]["network_mse"],
                rows_of[0]["network_mse_se"],
            )
        rows.append(row)
    return rows, arrays


RESULT_TABLES = ("recipes",)  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``recipes``: each recipe's change, its training's CPU-seconds, its
    samples' median distance to the curve and fraction beyond the threshold,
    and its error against the exact denoiser at the smallest level. Markdown."""
    import pandas as pd

    from ..tables import binomial, markdown, pm

    if key != "recipes":
        raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")
    rows = []
    for r in table.itertuples():
        cpu = "" if pd.isna(r.train_cpu_s) else f"{r.train_cpu_s:.0f}"
        error = "" if pd.isna(r.error_small) else pm(r.error_small, r.error_small_se)
        cells = [pm(r.curve_median, r.curve_median_se), binomial(r.curve_far, int(r.n)), error]
        rows.append([r.variant, r.change, cpu, *cells])
    header = ["recipe", "change from base", "training CPU-s", "median to the curve", "fraction beyond 0.01"]
    return markdown([*header, "error at the smallest level"], rows)


def figure(table, arrays, data_sets, tables, spec, name, path):
    """The training study: each recipe's error against the exact denoiser
    over the noise levels (the task's own error dashed), its samples' distance
    to the curve (median and fraction beyond the threshold, with standard
    errors, and its training CPU-seconds), and the samples of the base recipe
    and of the recipe farthest off the curve."""
    from .. import plots  # matplotlib: only the figure job imports it

    fig, axes = plots.plt.subplots(1, 4, figsize=(20, 4.8), gridspec_kw={"width_ratios": [1.3, 1, 1, 1]})
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
    plots.save(fig, path)
