"""The start study (docs/theory.md section 10): the start, not the step size,
is a deterministic sampler's floor.

For each noise scale ``sigma``, the sampler runs with the exact denoiser of
the data from ``N(0, sigma^2)`` (the usual start) and from the true ``p_1``
(data plus noise: no start mismatch), both scored against one held-out
draw, and with a network from the same ``N(0, sigma^2)`` draw: the study's
own at that ``sigma`` (a ``model`` section), or one shared network of the
data served at every ``sigma`` (``network``: docs/theory.md section 18); a
fresh draw of the data gives the noise floor. Its figure sets the runs of learned experiments
(``learned``) beside it.
"""

from __future__ import annotations

import numpy as np

from .. import process, runner
from ..data import from_config
from ..jobs.networks import training
from ..registry import ConfigError, network_entry, parse_label, sampler_of, sampler_runs, start_key
from ..seeds import rng_for

SECTION = "starts"  # its config section: every entry there is one study of this kind
COLUMNS = ("sigma", "start", "n", "energy", "energy_se", "nn_median")
TEST_SIZE = 5000  # the held-out draw every run is scored against


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Start study **{study}** (docs/theory.md section 10): the energy distance to held-out data
of one deterministic sampler with the exact denoiser of the data, at several noise scales
:math:`\sigma`, started from :math:`\mathcal N(0, \sigma^2 I)` (the usual start) and from the true
:math:`p_1` (data plus noise), with one standard error; triangles are a network at each :math:`\sigma`
(the study's own, or one shared network of the data served at every :math:`\sigma`), started from
:math:`\mathcal N(0, \sigma^2 I)`; black diamonds are learned experiments' runs of the same sampler; the
grey band is the noise floor. Where :math:`\mathcal N(0, \sigma^2 I)` is not :math:`p_1` (:math:`\sigma`
comparable to the data's scale) a deterministic sampler keeps the mismatch to the end: the floor is the
start, and starting from :math:`p_1`, or a larger :math:`\sigma`, removes it."""


def networks_of(spec: dict, config: dict | None = None) -> dict:
    """The study's networks, as ``{start_key(sigma): train params}``: its
    ``model`` section at each of its sigmas, trained down to the noise level
    ``sigma_min`` where its grids stop refining (``t_min = (sigma_min /
    sigma)^2``). Empty without a ``model`` section."""
    if "model" not in spec:
        return {}
    return {
        start_key(sigma): {
            "model": {**spec["model"], "t_min": (spec["sigma_min"] / sigma) ** 2},
            "seed": spec["seed"],
            "sigma": sigma,
        }
        for sigma in spec["sigmas"]
    }


def learned_sigmas(spec: dict, config: dict) -> list:
    """The noise scales of the learned experiments the figure shows (in order)."""
    return [config["experiments"][e]["sigma"] for e in spec.get("learned", [])]


KEYS = {
    "train": ("data", "n_samples", "seed", "networks"),
    "run": ("data", "sigmas", "sampler", "steps", "n_samples", "seed", "sigma_min", "network"),
    "figure": ("sampler", "steps", "learned_sigmas"),
}
DERIVED = {"networks": networks_of, "learned_sigmas": learned_sigmas}
DATA = ()  # no data job: its draws are made where they are used


def figure_experiments(spec: dict) -> list[str]:
    return list(spec.get("learned", []))


def shared_networks(spec: dict) -> list[str]:
    """The shared network it names, served at every sigma (none: its own per sigma)."""
    return [spec["network"]] if "network" in spec else []


def check(spec: dict, key: str, config: dict) -> None:
    sampler_of(spec["sampler"], "diffusion", f"{key}.sampler")
    if "network" in spec:
        net = network_entry(config, spec["network"], f"{key}.network")
        law = {k: v for k, v in spec["data"].items() if k != "n"}  # n: a training set's size
        if {k: v for k, v in net["data"].items() if k != "n"} != law:
            raise ConfigError(f"{key}.network: {spec['network']} learned other data than this study's")
        if net["levels"][0] > spec["sigma_min"] * (1 + 1e-9):
            raise ConfigError(
                f"{key}.network: {spec['network']} is trained from level {net['levels'][0]:g}, "
                f"above sigma_min = {spec['sigma_min']:g}, where the grids stop"
            )
    for e in spec.get("learned", []):
        exp = config["experiments"].get(e)
        if exp is None or "model" not in exp or "sigma" not in exp:
            raise ConfigError(f"{key}.learned: {e!r} is not a learned diffusion experiment")
        if (spec["sampler"], spec["steps"]) not in sampler_runs(exp):
            raise ConfigError(f"{key}.learned: {e} has no {spec['sampler']} run at {spec['steps']} steps")


def networks(params: dict, name: str, inputs: dict) -> list:
    """One network per sigma, all trained on one draw of the data."""
    n = params["data"].get("n", params["n_samples"])  # swiss_roll and spiral data give n
    x0 = from_config(params["data"]).sample(n, rng_for(params["seed"], name, "train"))
    return [(key, training(exp, name, x0)) for key, exp in params["networks"].items()]


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """Every sigma's runs, scored: rows of ``COLUMNS``, and the samples
    (``{start}-sigma{sigma}``). ``networks``: ``{start_key(sigma): denoiser}``,
    or the shared network by its name.
    Both starts of one sigma share their noise draw, so their difference is
    the start's alone."""
    from ..metrics import energy_distance_se, nn_median  # scipy: not for the Snakefile, which reads KEYS

    spec = params
    dist, n = from_config(spec["data"]), spec["n_samples"]
    test = dist.sample(TEST_SIZE, rng_for(spec["seed"], name, "test"))
    rows, arrays = [], {}

    def add(sigma, start, x):
        energy, se = energy_distance_se(x, test)
        rows.append(dict(zip(COLUMNS, (sigma, start, n, energy, se, nn_median(x, test)))))
        arrays[f"{start}-{start_key(sigma)}" if np.isfinite(sigma) else start] = x

    for sigma in spec["sigmas"]:
        proc = process.Diffusion(float(sigma))
        denoiser = process.exact_denoiser(proc, dist)
        t_min = (spec["sigma_min"] / sigma) ** 2  # every sigma refines down to the same noise level
        noise = sigma * rng_for(spec["seed"], name, "start", sigma).standard_normal((n, dist.dim))
        data = dist.sample(n, rng_for(spec["seed"], name, "p1", sigma))
        for start, x1 in (("prior", noise), ("p1", data + noise)):
            add(sigma, start, runner.run(denoiser, proc, spec["sampler"], spec["steps"], x1, t_min=t_min))
        shared = networks.get(spec.get("network"))
        net = shared.serving(proc) if shared is not None else networks.get(start_key(sigma))
        if net is not None:
            add(sigma, "learned", runner.run(net, proc, spec["sampler"], spec["steps"], noise, t_min=t_min))
    add(float("nan"), "floor", dist.sample(n, rng_for(spec["seed"], name, "floor")))
    return rows, arrays


def _learned_energy(table, label, steps):
    """(energy, its standard error) of a learned run in an experiment's metrics table."""
    sampler, grid = parse_label(label)
    run = table[(table["sampler"] == sampler) & (table["grid"] == grid) & (table["steps"] == steps)]
    run = run[run["denoiser"] == "learned"].set_index("metric")["value"]
    return run["energy"], run["energy_se"]


RESULT_TABLES = ("sigmas",)  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``sigmas``: the study's energy distances by sigma and start, and the
    noise floor (``sigma_table``; docs/results.md adds the learned
    experiments' runs, from their own tables). Markdown."""
    if key != "sigmas":
        raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")
    return sigma_table(table)


def sigma_table(table, experiments: dict | None = None, run: tuple | None = None) -> str:
    """The energy distances by sigma: the exact denoiser from N(0, sigma^2)
    and from the true p_1, the start's effect (their difference), and the
    study's network; the noise floor below. ``experiments``: ``{name: (sigma,
    energy, se)}`` of the learned experiments' runs of the study's sampler
    (``run``: its sampler, grid and steps), in a last column, as in
    docs/results.md; without them, no such column."""
    import math

    import pandas as pd

    from ..tables import markdown, pm, run_name

    energy = {(row.sigma, row.start): (row.energy, row.energy_se) for row in table.itertuples()}
    for experiment, (sigma, value, se) in (experiments or {}).items():
        energy[sigma, experiment] = (value, se)
    rows = []
    for sigma in sorted({sigma for sigma, _ in energy if pd.notna(sigma)}):
        cells = [pm(*energy[sigma, s]) if (sigma, s) in energy else "" for s in ("prior", "p1")]
        if (sigma, "prior") in energy and (sigma, "p1") in energy:
            (a, sa), (b, sb) = energy[sigma, "prior"], energy[sigma, "p1"]
            cells.append(pm(a - b, math.hypot(sa, sb)))
        else:
            cells.append("")
        cells.append(pm(*energy[sigma, "learned"]) if (sigma, "learned") in energy else "")
        if experiments is not None:
            shown = [f"{pm(*energy[sigma, e])} ({e})" for e in experiments if (sigma, e) in energy]
            cells.append(" ".join(shown))
        rows.append([f"{sigma:g}", *cells])
    header = [
        "sigma",
        "exact, from N(0, sigma^2)",
        "exact, from the true p_1",
        "the start's effect (difference)",
        "network, from N(0, sigma^2)",
    ]
    if experiments is not None:
        header.append(f"experiments ({run_name(*run)})")
    floor = table[table["start"] == "floor"].iloc[0]
    floor_line = f"Noise floor (a fresh draw of {floor.n} points): {pm(floor.energy, floor.energy_se)}."
    return f"{markdown(header, rows)}\n\n{floor_line}"


def figure(rows, arrays, data, tables, spec, name, path):
    """Energy distance against sigma for one sampler with the exact denoiser,
    from N(0, sigma^2) and from the true p_1, beside the runs of the same
    sampler in learned experiments (their metrics ``tables``, at
    ``spec["learned_sigmas"]``), and the noise floor. (A study figure's
    arguments: its table, its arrays, its data sets, the experiments' tables,
    its params, its name, the path.)"""
    from .. import plots  # matplotlib: only the figure job imports it

    learned = {
        s: _learned_energy(t, spec["sampler"], spec["steps"])
        for t, s in zip(tables.values(), spec["learned_sigmas"])
    }
    fig, ax = plots.plt.subplots(figsize=(7, 4.6))
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
    plots.distance_scale(ax, "energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save(fig, path)
