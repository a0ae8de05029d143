"""The likelihood study (docs/theory.md section 14): the model's log-density
by the probability-flow ODE, and the KL divergence from the data to the model
in nats.

Each data set (``sets``) is a law with a density (the spiral with blur, a
Gaussian mixture) under one process (``sigma``: the diffusion; ``source``: a
flow from a Gaussian). For each, the exact denoiser (where the law has one)
and the study's network (``model``, trained down to the
noise level ``level_min``) are scored on one held-out draw: the negative
log-likelihood ``-E log q``, ``KL(p || q) = E[log p - log q]`` with the
standard error of the spread over the points, and the ODE's convergence
(the largest change of a point's ``log q`` when its steps are doubled, on the
first ``CHECK`` points). The data's entropy ``-E log p`` is the NLL's floor;
a diffusion's ``start`` row is ``KL(p_1 || N(0, sigma^2))``, the exact
model's KL by quadrature, what its start mismatch costs. Maps of ``log q``
beside ``log p`` over the plane are its arrays.

An annulus source is refused: its density is zero off its ring, so the
model's density is zero off the ring's image under the flow and ``KL(p ||
q)`` from data with unbounded support is infinite, not a number to report.
"""

from __future__ import annotations

import numpy as np

from .. import likelihood, process
from ..data import from_config
from ..jobs.networks import training
from ..registry import ConfigError, network_entry
from ..seeds import rng_for

SECTION = "likelihood"  # its config section: every entry there is one study of this kind
COLUMNS = ("set", "process", "denoiser", "n", "metric", "value", "se")
CHECK = 200  # held-out points whose log q is recomputed with twice the steps
KEYS = {
    "train": ("networks",),
    "run": ("sets", "n_samples", "seed", "steps", "level_min", "map_size"),
    "figure": (),
}
DATA = ()  # no data job: every draw is made where it is used


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Likelihood study **{study}** (docs/theory.md section 14): each row is one data set under
one process. Left to right: the data's :math:`\log p`, the model's :math:`\log q` (the network's, or the
exact denoiser's where there is none) and :math:`\log q - \log p` where the data has mass.
:math:`\log q` is computed by the probability-flow ODE from each point up to the start, with the exact
trace of the denoiser's Jacobian (no Hutchinson estimator) and fourth-order Runge-Kutta steps. Right:
:math:`\operatorname{KL}(p \parallel q) = \mathbb E[\log p - \log q]` in nats over held-out points, with
one standard error, for the exact denoiser and the network; "start" is
:math:`\operatorname{KL}(p_1 \parallel \mathcal N(0, \sigma^2))` by quadrature: what a diffusion's start
costs the exact model. An annulus source is not scored: its density is zero off its ring, so the KL from
data with unbounded support is infinite."""


def describe(spec: dict) -> str:
    """The process of a set, as the table writes it."""
    if "sigma" in spec:
        return f"diffusion, sigma {spec['sigma']:g}"
    return f"flow from N(0, {spec['source']['std']:g}^2)"


def networks_of(spec: dict, config: dict | None = None) -> dict:
    """``{set: train params}``: the study's ``model`` with the set's own
    ``model`` keys on top, trained down to the noise level ``level_min``
    (``t_min`` of the set's process); none without a study ``model``, and
    none for a set with ``learned: false``."""
    if "model" not in spec:
        return {}
    out = {}
    for key, s in spec["sets"].items():
        if not s.get("learned", True) or "network" in s:  # none, or a shared one (shared_networks)
            continue
        exp = {k: s[k] for k in ("sigma", "source") if k in s}
        t_min = float(process.from_config(exp).t_of_level(spec["level_min"]))
        model = {**spec["model"], **s.get("model", {}), "t_min": t_min}
        out[key] = {**exp, "data": s["data"], "model": model, "seed": spec["seed"]}
    return out


DERIVED = {"networks": networks_of}


def shared_networks(spec: dict) -> list[str]:
    """The shared networks (the config's ``networks`` section) that sets name:
    one network of a law serves its sets under every process."""
    return sorted({s["network"] for s in spec["sets"].values() if "network" in s})


def figure_experiments(spec: dict) -> list[str]:
    return []


def check(spec: dict, key: str, config: dict) -> None:
    for name, s in spec["sets"].items():
        where = f"{key}.sets.{name}"
        if ("sigma" in s) == ("source" in s):
            raise ConfigError(f"{where}: give either sigma (a diffusion) or source (a flow), not both")
        if s.get("source", {}).get("kind", "gaussian") != "gaussian":
            raise ConfigError(
                f"{where}.source: an annulus has bounded support, so the model's density is zero off "
                "the image of its ring and KL(p || q) is infinite; use a gaussian source"
            )
        section = s["data"]
        if section["kind"] == "gaussian_mixture":
            k = len(section["means"])
            if {len(m) for m in section["means"]} != {2}:
                raise ConfigError(f"{where}.data.means: 2-D means are needed (the maps are of the plane)")
            for field in ("stds", "weights"):
                if isinstance(section.get(field), list) and len(section[field]) != k:
                    raise ConfigError(f"{where}.data.{field}: {len(section[field])} values for {k} means")
        elif section["kind"] == "point_masses" or section.get("noise", 1) == 0:
            raise ConfigError(f"{where}.data: {section['kind']} without blur has no density: no likelihood")
        elif from_config(section).dim != 2:
            raise ConfigError(f"{where}.data: 2-D data is needed (the maps are of the plane)")
        if "network" in s:
            shared = network_entry(config, s["network"], f"{where}.network")
            if shared["data"] != section:
                raise ConfigError(f"{where}.network: {s['network']} learned other data than this set's")
            if shared["levels"][0] > spec["level_min"] * (1 + 1e-9):
                raise ConfigError(
                    f"{where}.network: {s['network']} is trained from level {shared['levels'][0]:g}, "
                    f"above level_min = {spec['level_min']:g}, where the ODE starts"
                )
        elif "model" in spec and s.get("learned", True) and "n" not in section:
            raise ConfigError(f"{where}.data: a learned set needs n, its training-set size")


def networks(params: dict, name: str, inputs: dict) -> list:
    """One network per learned set, on ``data.n`` points of its own draw."""
    out = []
    for key, exp in params["networks"].items():
        x0 = from_config(exp["data"]).sample(exp["data"]["n"], rng_for(exp["seed"], name, "train", key))
        out.append((key, training(exp, name, x0)))
    return out


def plane(test, size: int):
    """A ``size`` x ``size`` grid over the held-out points (a margin of a
    tenth of their range each side), as points and its ``extent``."""
    lo, hi = np.quantile(test, 0.001, 0), np.quantile(test, 0.999, 0)
    lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
    xs, ys = np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2), np.array([lo[0], hi[0], lo[1], hi[1]])


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """Every set's scores: rows of ``COLUMNS`` (denoiser ``data``: entropy;
    ``start``: the start's KL; ``exact``, ``learned``: nll, kl, ode_change)
    and maps (``logp-{set}``, ``logq-{set}-{denoiser}``, ``extent-{set}``).
    ``networks``: ``{set: denoiser}``, numpy or torch (``likelihood.field_of``),
    and the shared networks sets name, by their names."""
    spec, n, steps, size = params, params["n_samples"], params["steps"], params["map_size"]
    rows, arrays = [], {}
    for key, s in spec["sets"].items():
        dist, proc = from_config(s["data"]), process.from_config(s)
        t_min = float(proc.t_of_level(spec["level_min"]))
        test = dist.sample(n, rng_for(spec["seed"], name, "test", key))
        log_p = likelihood.log_density(dist, test)
        grid, extent = plane(test, size)
        arrays[f"logp-{key}"] = likelihood.log_density(dist, grid).reshape(size, size)
        arrays[f"extent-{key}"] = extent
        head = (key, describe(s))
        scores = [("data", "entropy", *likelihood.mean_se(-log_p))]
        if proc.kind == "diffusion":
            scores.append(("start", "kl", likelihood.start_kl(dist, proc), None))
        fields = {"exact": likelihood.exact_field(proc, dist)}
        net = networks.get(s.get("network", key))  # a shared network serves this set's process
        if net is not None:
            fields["learned"] = likelihood.field_of(net.serving(proc) if hasattr(net, "serving") else net)
        for denoiser, field in fields.items():
            log_q = likelihood.log_likelihood(field, proc, test, steps, t_min)
            finer = likelihood.log_likelihood(field, proc, test[:CHECK], 2 * steps, t_min)
            kl = likelihood.kl_divergence(log_p, log_q)
            change = finer - log_q[:CHECK]
            scores += [
                (denoiser, "nll", *likelihood.mean_se(-log_q)),
                (denoiser, "kl", kl["kl"], kl["se"]),
                (denoiser, "ode_change", float(np.abs(change).max()), None),  # a point's largest
                (denoiser, "ode_change_mean", float(abs(change.mean())), None),  # the KL's
            ]
            if denoiser == "learned" or "learned" not in fields:  # the exact model's map is log p's
                q = likelihood.log_likelihood(field, proc, grid, steps, t_min)
                arrays[f"logq-{key}-{denoiser}"] = q.reshape(size, size)
        rows += [dict(zip(COLUMNS, (*head, d, n, metric, value, se))) for d, metric, value, se in scores]
    return rows, arrays


RESULT_TABLES = ("sets",)  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``sets``: each data set's KL(p || q) and NLL in nats, exact and
    learned, beside the data's entropy, the start's KL and the mean change of
    log q at twice the steps. Markdown."""
    from ..tables import markdown, pm

    if key != "sets":
        raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")
    table = table.set_index(["set", "denoiser", "metric"])
    rows = []
    for (name, described), _ in table.groupby(["set", "process"], sort=False):
        entropy = table.loc[(name, "data", "entropy")]
        start = table.loc[(name, "start", "kl"), "value"] if (name, "start", "kl") in table.index else None
        for denoiser in ("exact", "learned"):
            if (name, denoiser, "kl") not in table.index:
                continue
            kl, nll = table.loc[(name, denoiser, "kl")], table.loc[(name, denoiser, "nll")]
            change = table.loc[(name, denoiser, "ode_change_mean"), "value"]
            rows.append(
                [
                    name,
                    described,
                    denoiser,
                    pm(kl["value"], kl["se"]),
                    pm(nll["value"], nll["se"]),
                    pm(entropy["value"], entropy["se"]),
                    "" if start is None else f"{start:.2g}",
                    f"{change:.1g}",
                ]
            )
    header = ["set", "process", "denoiser", "KL(p, q), nats", "NLL, nats", "entropy of p", "start's KL"]
    return markdown([*header, "mean change at twice the steps"], rows)


def figure(table, arrays, data_sets, tables, spec, name, path):
    """For each data set, maps of the data's log p, the model's log q (the
    network's, or the exact denoiser's without one) and their difference
    where the data has mass (log p within 10 nats of its peak: elsewhere
    neither the KL nor the NLL sees it), and beside them KL(p || q) in nats
    with its standard error for every model and the start's own KL (a
    diffusion's start mismatch, by quadrature)."""
    from .. import plots  # matplotlib: only the figure job imports it

    sets = list(dict.fromkeys(table["set"]))
    fig = plots.plt.figure(figsize=(16, 3.6 * len(sets)))
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
    plots.save(fig, path)
