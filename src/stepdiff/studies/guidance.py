"""The guidance study (docs/theory.md section 15): classifier-free guidance
does not sample the tilted law ``p(x | c)^g p(x)^(1 - g)``, and by how much.

Two parts, one table (``part``):

* ``gaussian``: the 1-D labelled Gaussian, in closed form: for each guidance
  scale, the tilted law, the guided ODE and SDE limits, and each sampler's
  exact output law (``gaussian_table``); no sampling.
* ``ring``: a ring of Gaussian classes, conditioned on one class: at each
  scale, the guided sampler with the exact denoisers and (with a ``model``
  section) with the study's conditional network, from the same starts and
  noise, against a draw of the tilted law from a fine grid: energy distance,
  the share of samples in the class's angular sector and the spread within
  it; and the network's samples against the exact ones (``energy_to_exact``:
  an unbiased estimate of the energy distance between their laws, with a
  paired error).

The network is the project's one network with a label embedding
(``network.Training`` with labels; ``network.Denoiser`` takes the label).
"""

from __future__ import annotations

import numpy as np

from .. import guidance, laws, process, runner
from ..grids import KARRAS_T_MIN
from ..network import Training
from ..registry import ConfigError, parse_label, run_label, sampler_of, sampler_runs
from ..seeds import canonical_key, int_seed, rng_for

SECTION = "guidance"  # its config section: every entry there is one study of this kind
COLUMNS = ("part", "scale", "sampler", "grid", "steps", "denoiser", "n", "metric", "value", "se")
TRAJECTORIES = 500  # particles kept along each exact run of the first sampler (the animation)
KEYS = {
    "train": ("model", "ring", "seed", "sigma", "t_min"),
    "run": ("gaussian", "grid_cells", "n_samples", "ring", "samplers", "scales", "seed", "sigma", "t_min"),
    "figure": (),
}
DERIVED: dict = {}
DATA = ()  # no data job: the training set is drawn by the train job, from the ring's law


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Guidance study **{study}** (docs/theory.md section 15): classifier-free guidance does not sample
the tilted law :math:`p(x \mid c)^g p(x)^{1 - g}`. Top: the 1-D labelled Gaussian in closed form, for each
guidance scale :math:`g`: the tilted law, the guided ODE and SDE limits and each sampler's exact output law
(mean and std). Below: a ring of Gaussian classes conditioned on one class, at each scale: the guided
samplers with the exact denoisers and with the study's conditional network (the project's network with
a label embedding; the null label is the unconditional denoiser), from the same starts, against a draw
of the tilted law from a fine grid: energy distance with one standard error, the share of samples in
the class's sector and the spread within it."""


def figure_experiments(spec: dict) -> list[str]:
    return []


def check(spec: dict, key: str, config: dict) -> None:
    from ..grids import last_time

    for where, runs in (
        ("samplers", sampler_runs(spec)),
        ("gaussian.samplers", sampler_runs(spec["gaussian"])),
    ):
        for label, steps in runs:
            sampler, grid = sampler_of(label, "diffusion", f"{key}.{where}")
            if (
                where == "samplers"
                and "model" in spec
                and last_time(steps, grid, spec["t_min"]) < spec["t_min"] * (1 - 1e-9)
            ):
                raise ConfigError(f"{key}.{where}: {label} at {steps} steps queries the network below t_min")
    for where, scales in (("scales", spec["scales"]), ("gaussian.scales", spec["gaussian"]["scales"])):
        if min(scales) < 0:
            raise ConfigError(
                f"{key}.{where}: guidance scales must be >= 0 (the tilted law needs it), got {scales}"
            )
    if not 0 <= spec["ring"]["label"] < spec["ring"]["classes"]:
        raise ConfigError(f"{key}.ring.label: a class in [0, {spec['ring']['classes'] - 1}]")


def ring_of(spec: dict) -> guidance.Ring:
    r = spec["ring"]
    return guidance.Ring(int(r["classes"]), float(r["radius"]), float(r["std"]))


def networks(params: dict, name: str, inputs: dict) -> list:
    """One conditional network on a labelled draw of the ring (``model.n_train``
    points), trained down to the study's ``t_min``, where its grids stop."""
    if "model" not in params:
        return []
    ring = ring_of(params)
    x0, labels = ring.sample(params["model"]["n_train"], rng_for(params["seed"], name, "train"))
    recipe = {k: v for k, v in params["model"].items() if k != "n_train"}
    recipe.update(classes=ring.classes, t_min=params["t_min"])
    seed = int_seed(params["seed"], name, "train")
    return [
        ("conditional", Training(x0, process.Diffusion(float(params["sigma"])), recipe, seed, labels, params))
    ]


GAUSSIAN_LAWS = ("tilted", "ode", "sde")  # the table's closed-form rows beside the samplers'


def gaussian_table(
    model: guidance.LabelledGaussian, sigma: float, scales, runs, t_min=KARRAS_T_MIN
) -> list[dict]:
    """For each guidance scale: the tilted law, the guided ODE and SDE limits
    and each sampler run ``(label, steps)`` of ``runs`` (the diffusion from
    ``N(0, sigma^2)``), as rows ``(scale, law, steps, mean, std, mean_gap,
    std_gap)``; the gaps are to the tilted law."""
    proc, rows = process.Diffusion(float(sigma)), []
    for g in scales:
        tilted = model.tilted(g)
        found = [
            ("tilted", 0, tilted),
            ("ode", 0, model.ode_law(g, sigma)),
            ("sde", 0, model.sde_law(g, sigma)),
        ]
        denoiser = model.guided_denoiser(proc, g)
        found += [
            (label, steps, laws.affine_law(denoiser, proc, label, steps, t_min)) for label, steps in runs
        ]
        for law, steps, (mean, std) in found:
            gaps = dict(mean_gap=mean - tilted[0], std_gap=std - tilted[1])
            rows.append(dict(scale=g, law=law, steps=steps, mean=mean, std=std, **gaps))
    return rows


def gaussian_rows(spec: dict) -> list[dict]:
    """The closed-form part: ``gaussian_table`` as rows of ``COLUMNS``
    (``sampler`` is ``tilted``, ``ode`` or ``sde`` for the closed-form laws)."""
    g = spec["gaussian"]
    model = guidance.LabelledGaussian(float(g["label"]), float(g["std"]), float(g["label_std"]))
    table = gaussian_table(model, float(spec["sigma"]), g["scales"], sampler_runs(g), spec["t_min"])
    rows = []
    for r in table:
        closed = r["law"] in GAUSSIAN_LAWS
        sampler, grid = (r["law"], "none") if closed else parse_label(r["law"])
        head = ("gaussian", r["scale"], sampler, grid, r["steps"], "exact", 0)
        for metric in ("mean", "std", "mean_gap", "std_gap"):
            rows.append(dict(zip(COLUMNS, (*head, metric, r[metric], 0.0))))
    return rows


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """Both parts: rows of ``COLUMNS`` and the arrays the figure draws
    (``{denoiser}-g{scale}-{label}-{steps}`` samples, ``tilted-g{scale}`` the
    tilted draw, ``mass-g{scale}`` its grid, ``path-g{scale}-{label}-{steps}``
    the first sampler's exact trajectories). ``networks``: ``{"conditional":
    network.Denoiser}`` (with labels) or empty. Every scale and both denoisers of one
    sampler run start from one draw; a run's noise is keyed by its scale, so
    the exact and learned runs at one scale share it."""
    from ..metrics import energy_distance_se, energy_gap, quantile_se, self_distances

    spec, ring, k = params, ring_of(params), int(params["ring"]["label"])
    proc, n, t_min = process.Diffusion(float(spec["sigma"])), spec["n_samples"], spec["t_min"]
    net = networks.get("conditional")
    rows = gaussian_rows(spec)
    arrays = {"means": ring.means, "label": np.array([k]), "t_min": np.array([t_min])}

    def add(g, run, denoiser, values):
        for metric, (value, se) in values.items():
            rows.append(dict(zip(COLUMNS, ("ring", g, *run, denoiser, n, metric, value, se))))

    def pairs(stats):
        return {m: (stats[m], stats[f"{m}_se"]) for m in ("sector", "spread")}

    d_cond, d_uncond = ring.denoisers(proc, k)
    for g in spec["scales"]:
        key = canonical_key(g)
        grid = guidance.tilted_grid(ring, k, g, spec["grid_cells"])
        tilted = grid.sample(n, rng_for(spec["seed"], name, "tilted", g))
        tilted_self = self_distances(tilted)
        floor = grid.sample(n, rng_for(spec["seed"], name, "floor", g))
        exact_stats = guidance.sector_stats(ring, grid.centres, k, grid.mass)  # integrals on the grid
        floor_energy = energy_distance_se(floor, tilted, tilted_self)
        add(g, ("tilted", "none", 0), "tilted", {"energy": floor_energy, **pairs(exact_stats)})
        arrays[f"tilted-g{key}"], arrays[f"mass-g{key}"] = tilted, grid.mass.astype(np.float32)
        arrays["edges"] = grid.edges
        for i, (label, steps) in enumerate(sampler_runs(spec)):
            sampler, grid_kind = parse_label(label)
            x1 = proc.source(n, 2, rng_for(spec["seed"], name, "start", label, steps))
            keep = runner.recorded_rows(proc, runner.time_grid(label, steps, t_min))
            noise = rng_for(spec["seed"], name, "noise", label, steps, g)
            d_g = guidance.guided(d_cond, d_uncond, g)
            out = runner.run(d_g, proc, label, steps, x1, noise, t_min, TRAJECTORIES if i == 0 else 0, keep)
            exact, path = out if i == 0 else (out, None)
            run_key = (sampler, grid_kind, steps)
            add(
                g,
                run_key,
                "exact",
                {
                    "energy": energy_distance_se(exact, tilted, tilted_self),
                    **pairs(guidance.sector_stats(ring, exact, k)),
                },
            )
            arrays[f"exact-g{key}-{label}-{steps}"] = exact
            if path is not None:
                arrays[f"path-g{key}-{label}-{steps}"], arrays[f"rows-{label}-{steps}"] = path, keep
            if net is None:
                continue
            noise = rng_for(spec["seed"], name, "noise", label, steps, g)  # the exact run's, anew
            learned = runner.run(
                guidance.guided(net.denoiser(k), net.denoiser(None), g), proc, label, steps, x1, noise, t_min
            )
            x_ref = proc.source(n, 2, rng_for(spec["seed"], name, "reference", label, steps))
            ref_noise = rng_for(spec["seed"], name, "reference-noise", label, steps, g)
            reference = runner.run(d_g, proc, label, steps, x_ref, ref_noise, t_min)
            add(
                g,
                run_key,
                "learned",
                {
                    "energy": energy_distance_se(learned, tilted, tilted_self),
                    **pairs(guidance.sector_stats(ring, learned, k)),
                    "energy_to_exact": energy_gap(learned, exact, reference),
                    "paired_dist": quantile_se(np.linalg.norm(learned - exact, axis=1), 0.5),
                },
            )
            arrays[f"learned-g{key}-{label}-{steps}"] = learned
    return rows, arrays


def _guidance_value(ring, g, run, denoiser, metric):
    """(value, se) of one ring row of a guidance study's table (NaNs if absent);
    ``run`` is ``(sampler, grid, steps)``, ``None`` for the tilted law."""
    sampler, grid, steps = run if run is not None else ("tilted", "none", 0)
    r = ring[(ring["scale"] == g) & (ring["sampler"] == sampler) & (ring["grid"] == grid)]
    r = r[(r["steps"] == steps) & (r["denoiser"] == denoiser) & (r["metric"] == metric)]
    return (float(r["value"].iloc[0]), float(r["se"].iloc[0])) if len(r) else (np.nan, np.nan)


RESULT_TABLES = ("gaussian", "ring")  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``gaussian``: the 1-D labelled Gaussian, each guided law's (mean, std)
    beside the tilted law's; ``ring``: the guided samples' energy distance to
    the tilted law and fraction in the class's sector, exact and learned, and
    the learned guided law's distance to the exact one (paired starts), also
    in standard errors. Markdown."""
    from ..tables import binomial, markdown, pm, run_name

    if key == "gaussian":
        table = table[table["part"] == "gaussian"].pivot_table(
            index=["scale", "sampler", "steps"], columns="metric", values="value", sort=False
        )
        laws = list(dict.fromkeys((sampler, steps) for _, sampler, steps in table.index))
        header = ["g", *(f"{s} {n}" if n else s for s, n in laws)]
        rows = []
        for g in dict.fromkeys(scale for scale, _, _ in table.index):
            cells = [f"{table.at[(g, s, n), 'mean']:.3f}, {table.at[(g, s, n), 'std']:.3f}" for s, n in laws]
            rows.append([f"{g:g}", *cells])
        return markdown(header, rows)
    if key == "ring":
        ring = table[(table["part"] == "ring") & (table["sampler"] != "tilted")]
        rows = []
        for (g, sampler, grid, steps), run in ring.groupby(["scale", "sampler", "grid", "steps"], sort=False):
            r = run.set_index(["denoiser", "metric"])
            cells = []
            n = int(run["n"].iloc[0])
            for denoiser in ("exact", "learned"):
                energy, sector = r.loc[(denoiser, "energy")], r.loc[(denoiser, "sector"), "value"]
                cells += [pm(energy["value"], energy["se"]), binomial(sector, n)]
            gap = r.loc[("learned", "energy_to_exact")]
            ratio = gap["value"] / gap["se"] if gap["se"] > 0 else float("nan")
            cells += [pm(gap["value"], gap["se"]), f"{ratio:.1f}"]
            rows.append([f"{g:g}", run_name(sampler, grid, steps), *cells])
        header = ["g", "sampler, grid, steps", "exact: energy to tilted", "exact: in sector"]
        header += ["network: energy to tilted", "network: in sector", "network to exact", "in SE"]
        return markdown(header, rows)
    raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")


def figure(table, arrays, data_sets, tables, spec, name, path):
    """Classifier-free guidance against the tilted law (docs/theory.md section
    15). Left, one column per guidance scale: the tilted law ``p(x|c)^g
    p(x)^(1-g)`` on its grid, then each sampler's guided samples with the
    exact denoisers and with the study's network (same starts), the class's
    sector outlined. Right: the closed-form 1-D laws (std and mean against
    g: tilted, the guided ODE and SDE limits, the samplers), and on the ring
    the energy distance to the tilted draw and the spread within the sector."""
    from .. import plots  # matplotlib: only the figure job imports it

    ring = table[table["part"] == "ring"]
    scales = sorted(ring["scale"].unique())
    exact = ring[ring["denoiser"] == "exact"]
    runs = list(dict.fromkeys(zip(exact["sampler"], exact["grid"], exact["steps"])))
    denoisers = ("exact", "learned") if (ring["denoiser"] == "learned").any() else ("exact",)
    panels = [("tilted", None)] + [(d, run) for run in runs for d in denoisers]
    means, k, edges = arrays["means"], int(arrays["label"][0]), arrays["edges"]
    samples = [v for key, v in arrays.items() if key.split("-")[0] in denoisers]
    view = min(edges[-1], 1.1 * max(np.quantile(np.abs(x).max(1), 0.995) for x in samples))
    fig = plots.plt.figure(figsize=(2.4 * len(scales) + 4.2, 2.5 * len(panels)))
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
    plots.save(fig, path)


def animation(arrays: dict, name: str, path: str) -> int:
    """The guidance study's animation: one panel per guidance scale, the
    exact guided run of its first sampler from the same starts (its arrays
    ``path-g{scale}-{label}-{steps}`` and ``rows-{label}-{steps}``), the class
    means as stars (particles coloured by the mean they end nearest), on the
    grids of the study's ``t_min`` (its array of that name). The
    panels are in increasing order of scale; their titles name the sampler,
    the suptitle the scales. Returns the number of frames (``trajectories_gif``)."""
    from ..animate import trajectories_gif  # matplotlib: only the animation job imports it

    keys = sorted((k for k in arrays if k.startswith("path-g")), key=lambda k: float(k.split("-")[1][1:]))
    if not keys:
        raise ValueError(f"{name}: no guided trajectories in the study's arrays")
    parts = [k.split("-", 2) for k in keys]  # "path", "g{scale}", "{label}-{steps}"
    scales = [scale[1:] for _, scale, _ in parts]
    runs = {
        f"{scale}/{run}": (arrays[f"rows-{run}"], arrays[key]) for key, (_, scale, run) in zip(keys, parts)
    }
    title = f"{name}: guidance scale g = {', '.join(scales)} (left to right)"
    return trajectories_gif(runs, title, float(arrays["t_min"][0]), path, points=arrays["means"])
