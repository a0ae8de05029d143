"""Few-step generation against the exact flow map (docs/theory.md sections 19 and 20).

On the Swiss roll, the linear flow from ``N(0, I)`` has an exact map
``Phi(z)``: the roll's exact denoiser integrated by the teacher's sampler
(to ``1e-6`` of the curve). Three ways to spend fewer evaluations, each
scored by the curve and against ``Phi``:

* the flow itself with Euler, exact and learned (the shared roll network);
* reflow (Liu et al. 2022): a flow trained on the straight pairs ``(z,
  Phi_teacher(z))``, with the exact map and with the network as teachers;
* a one-step student ``G(z)`` regressing the network teacher's map (Luhman
  and Luhman 2021): a flow denoiser trained only at ``t = 1``, where one
  Euler step is ``D(z, 1)``; its error split into the teacher's and its own;
  and a two-step use: ``G(z)`` renoised to a small level and denoised once
  by the teacher's network.

Each flow's straightness, path energy and transport cost along its own ODE
paths (``transport.path_scores``). On torchcfm's 8 Gaussians -> moons, flow
matching with the independent and the minibatch-OT coupling (Tong et al.
2023), W2 by exact assignment against held-out points beside the floor (two
draws of the moons), and the exact flow of the independent coupling.

The run job is numpy and scipy only; its networks come from the training job.
"""

from __future__ import annotations

import numpy as np

from .. import process, runner, transport
from ..data import from_config, on_curve
from ..grids import times
from ..network import Training
from ..registry import ConfigError, network_entry, sampler_of
from ..seeds import int_seed, rng_for

SECTION = "fewstep"  # its config section: every entry there is one study of this kind
COLUMNS = ("part", "method", "teacher", "coupling", "seed", "nfe", "metric", "value", "se")
ROLL_FLOW = process.LinearFlow(1.0)  # the flow from N(0, I) that the roll's maps start from
ROLL_METHODS = ("flow", "reflow", "distill", "distill+denoise")  # the figure's order
COUPLINGS = ("independent", "ot")
PATH_STARTS = 1000  # the starts whose paths are measured: W2^2 by exact assignment is O(m^3)
EXACT_POINTS = 500  # the moons' point set whose exact flow is drawn: n m K exponentials a call

CAPTION = r"""Few-step study **{study}** (docs/theory.md sections 19 and 20). Top left and centre: the
Swiss roll's linear flow from :math:`\mathcal N(0, I)`, the median distance of samples to the curve and
the fraction beyond the curve threshold against the network evaluations (NFE), each with one standard
error: the flow with Euler steps (exact denoiser: open; the shared roll network: filled), reflow (a flow
trained on the pairs :math:`(z, \Phi(z))` of a teacher: the exact map or the network) with Euler steps,
the one-step student :math:`G(z)` regressing the network's map, and :math:`G(z)` renoised and denoised
once by the network (2 NFE); stars: the teachers. Top right: one-step samples :math:`G(z)` coloured by
their distance :math:`\lVert G(z) - \Phi(z)\rVert` to the exact map. Bottom left: the straightness
:math:`S` of each flow along its own paths, beside its excess transport cost :math:`\mathrm{TC} - W_2^2`
(:math:`W_2^2` by exact assignment of equal samples). Bottom centre: 8 Gaussians to moons, :math:`W_2`
to held-out points by exact assignment against NFE, the independent and the minibatch-OT coupling (mean
and standard error over seeds) and the exact flow of the independent coupling; the grey band is the
floor, :math:`W_2` between two draws of the moons. Bottom right: the student's error split,
:math:`\lVert G - \Phi_{\text{exact}}\rVert` against the teacher's own error
:math:`\lVert \Phi_{\text{teacher}} - \Phi_{\text{exact}}\rVert`."""


def level_min(spec: dict, config: dict) -> float:
    """The smallest noise level of the shared network it names: the roll's
    grids stop there (below it the network blurs: docs/theory.md section 18)."""
    return float(config["networks"][spec["network"]]["levels"][0])


KEYS = {
    "train": ("data", "network", "teacher", "pairs", "model", "student", "student_teacher", "moons", "seed")
    + ("level_min",),
    "run": ("data", "network", "teacher", "renoise", "euler", "moons", "n_samples", "path_steps", "seed")
    + ("curve_threshold", "level_min", "student_teacher"),
    "figure": ("curve_threshold",),
}
DERIVED = {"level_min": level_min}
DATA = ()  # no data job: its draws are made where they are used


def figure_experiments(spec: dict) -> list[str]:
    return []


def shared_networks(spec: dict) -> list[str]:
    """The roll network its runs use (the teacher, and the second call of the two-step use)."""
    return [spec["network"]]


def teachers(spec: dict) -> list[str]:
    """The network whose flow map its students learn."""
    return [spec["network"]]


def check(spec: dict, key: str, config: dict) -> None:
    name = spec["network"]
    net = network_entry(config, name, f"{key}.network")
    if not on_curve(from_config(spec["data"])):
        raise ConfigError(
            f"{key}.data: a law on a curve, without noise (swiss_roll, spiral): it scores samples"
        )
    law = {k: v for k, v in spec["data"].items() if k != "n"}  # n: how many points a network saw
    if {k: v for k, v in net["data"].items() if k != "n"} != law:
        raise ConfigError(f"{key}.data: not the law of networks.{name}.data, which teaches it")
    sampler_of(spec["teacher"]["sampler"], "flow", f"{key}.teacher.sampler")


def _t_min(params: dict) -> float:
    return float(ROLL_FLOW.t_of_level(params["level_min"]))


def flow_map(denoiser, params: dict, z) -> np.ndarray:
    """``Phi(z)``: the teacher's sampler run from the starts ``z`` with ``denoiser``."""
    teacher = params["teacher"]
    return runner.run(
        denoiser, ROLL_FLOW, teacher["sampler"], teacher["steps"], np.array(z), None, _t_min(params)
    )


def moons_flow(moons: dict) -> process.LinearFlow:
    """A linear flow scaled as torchcfm's 8 Gaussians (each coordinate's std):
    it only preconditions the networks; their starts are the 8 Gaussians."""
    law = transport.eight_gaussians_law(moons["scale"], moons["var"])
    return process.LinearFlow(float(np.sqrt(np.mean(law.means**2) + np.mean(law.stds**2))))


def networks(params: dict, name: str, inputs: dict) -> list:
    """The roll's reflows (exact and network teachers) and one-step student,
    on ``pairs`` starts and their teachers' maps; and on the moons, a flow per
    coupling and seed, on ``moons.n_train`` points of each law."""
    teacher = inputs[f"network_{params['network']}"].serving(ROLL_FLOW)
    exact = process.exact_denoiser(ROLL_FLOW, from_config(params["data"]))
    z = ROLL_FLOW.source(params["pairs"], 2, rng_for(params["seed"], name, "pairs"))
    phi = {"exact": flow_map(exact, params, z), "learned": flow_map(teacher, params, z)}
    recipe = {**params["model"], "t_min": _t_min(params), "paired": True}
    seed = params["seed"]
    tasks = [
        (f"reflow_{kind}", Training(phi[kind], ROLL_FLOW, recipe, int_seed(seed, name, "reflow", kind), x1=z))
        for kind in ("exact", "learned")
    ]
    one_step = {**params["student"], "t_min": _t_min(params), "paired": True, "t_fixed": 1.0}
    target = phi[params["student_teacher"]]
    tasks.append(("distill", Training(target, ROLL_FLOW, one_step, int_seed(seed, name, "distill"), x1=z)))
    moons, flow = params["moons"], moons_flow(params["moons"])
    for s in range(moons["seeds"]):
        x0, x1 = moons_pair(moons, moons["n_train"], rng_for(seed, name, "moons train", s))
        ot = transport.minibatch_ot_pairs(x0, x1, moons["ot_batch"], rng_for(seed, name, "moons ot", s))
        for coupling, pairs, paired in (("independent", (x0, x1), False), ("ot", ot, True)):
            recipe = {**moons["model"], "paired": paired}
            task = Training(pairs[0], flow, recipe, int_seed(seed, name, "moons", s), x1=pairs[1])
            tasks.append((f"moons_{coupling}_{s}", task))
    return tasks


def moons_pair(moons: dict, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` moons and ``n`` independent draws of the 8 Gaussians."""
    x0 = transport.moons(n, rng, moons["noise"])
    return x0, transport.eight_gaussians(n, rng, moons["scale"], moons["var"])


def _row(part, method, teacher, coupling, seed, nfe, metric, value, se=float("nan")):
    return dict(zip(COLUMNS, (part, method, teacher, coupling, seed, nfe, metric, float(value), float(se))))


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """The roll's rows (curve scores against NFE, path measures, the
    student's error split) and the moons' (W2 against NFE, path measures);
    arrays: the starts, their exact and teacher's maps, and the one-step samples."""
    rows, arrays = roll_rows(params, name, networks)
    return rows + moons_rows(params, name, networks), arrays


def roll_rows(params: dict, name: str, networks: dict) -> tuple[list[dict], dict]:
    from ..metrics import curve_scores, quantile_se

    law, n, seed = from_config(params["data"]), params["n_samples"], params["seed"]
    exact = process.exact_denoiser(ROLL_FLOW, law)
    learned = networks[params["network"]].serving(ROLL_FLOW)
    z = ROLL_FLOW.source(n, 2, rng_for(seed, name, "starts"))
    rows = []

    def scored(method, teacher, nfe, x):
        scores = curve_scores(law.distance(x), params["curve_threshold"])
        for metric in ("curve_median", "curve_far"):
            rows.append(
                _row("roll", method, teacher, "", 0, nfe, metric, scores[metric], scores[f"{metric}_se"])
            )

    teacher_nfe = runner.count_nfe(
        ROLL_FLOW, params["teacher"]["sampler"], params["teacher"]["steps"], _t_min(params)
    )
    phi_exact, phi_learned = flow_map(exact, params, z), flow_map(learned, params, z)
    scored("teacher", "exact", teacher_nfe, phi_exact)
    scored("teacher", "learned", teacher_nfe, phi_learned)
    flows = {
        ("flow", "exact"): exact,
        ("flow", "learned"): learned,
        ("reflow", "exact"): networks["reflow_exact"],
        ("reflow", "learned"): networks["reflow_learned"],
    }
    for (method, teacher), denoiser in flows.items():
        for steps in params["euler"]:
            scored(method, teacher, steps, runner.run(denoiser, ROLL_FLOW, "euler", steps, z.copy(), None))
    g = networks["distill"](z, 1.0)  # one Euler step of a flow trained at t = 1 is D(z, 1)
    whose = params["student_teacher"]
    scored("distill", whose, 1, g)
    t = float(ROLL_FLOW.t_of_level(params["renoise"]))
    noise = rng_for(seed, name, "renoise").standard_normal(g.shape)
    scored("distill+denoise", whose, 2, learned(ROLL_FLOW.couple(g, noise, t), t))
    split = transport.split_error(g, {"exact": phi_exact, "learned": phi_learned}[whose], phi_exact)
    for part, err in split.items():
        median, se = quantile_se(err, 0.5)
        rows.append(_row("roll", "distill", whose, "", 0, 1, f"error_{part}", median, se))
    # path measures on the first starts (the excess cost needs an exact assignment: O(m^3))
    m = min(n, PATH_STARTS)
    ts = times(params["path_steps"], "sigma")
    for (method, teacher), denoiser in flows.items():
        path = transport.flow_path(denoiser, ROLL_FLOW, z[:m], ts)
        rows.extend(_path_rows("roll", method, teacher, "", 0, path))
    arrays = {"starts": z, "exact": phi_exact, "teacher": phi_learned, "distill": g}
    return rows, arrays


def _path_rows(part, method, teacher, coupling, seed, path) -> list[dict]:
    scores = transport.path_scores(path)
    out = [
        _row(part, method, teacher, coupling, seed, 0, metric, scores[metric], scores[f"{metric}_se"])
        for metric in ("straightness", "path_energy", "transport_cost")
    ]
    # the optimal pairing of the same starts and ends: TC - W2^2 >= 0, the
    # coupling's excess over the optimal one between these two samples
    w2 = transport.w2_assignment(path.x[0], path.x[-1]) ** 2
    out.append(_row(part, method, teacher, coupling, seed, 0, "excess_cost", scores["transport_cost"] - w2))
    return out


def moons_rows(params: dict, name: str, networks: dict) -> list[dict]:
    """For each seed: each coupling's flow with Euler 1, 2 and the path's
    Heun (the accurate solver), W2 to held-out moons by exact assignment;
    the floor (two held-out draws); and the exact independent flow from the
    8 Gaussians to a draw of the moons (a point set of ``EXACT_POINTS``)."""
    moons, seed, n = params["moons"], params["seed"], params["moons"]["n_samples"]
    flow, rows = moons_flow(moons), []
    ts = times(params["path_steps"], "uniform")
    path_nfe = runner.count_nfe(flow, "heun", params["path_steps"])  # flow_path's Heun on the same grid
    law = transport.eight_gaussians_law(moons["scale"], moons["var"])
    for s in range(moons["seeds"]):
        rng = rng_for(seed, name, "moons test", s)
        test, starts = moons_pair(moons, n, rng)
        floor = transport.w2_assignment(transport.moons(n, rng, moons["noise"]), test)
        rows.append(_row("moons", "floor", "", "", s, 0, "w2", floor))
        flows = {c: networks[f"moons_{c}_{s}"] for c in COUPLINGS}
        points = transport.moons(EXACT_POINTS, rng_for(seed, name, "moons exact", s), moons["noise"])
        flows["exact"] = transport.mixture_source_denoiser(points, law)
        for coupling, denoiser in flows.items():
            for steps in params["euler"]:
                x = runner.run(denoiser, flow, "euler", steps, starts.copy(), None)
                rows.append(
                    _row("moons", "flow", "", coupling, s, steps, "w2", transport.w2_assignment(x, test))
                )
            path = transport.flow_path(denoiser, flow, starts, ts)
            w2 = transport.w2_assignment(path.x[-1], test)
            rows.append(_row("moons", "flow", "", coupling, s, path_nfe, "w2", w2))
            rows.extend(_path_rows("moons", "flow", "", coupling, s, path))
    return rows


RESULT_TABLES = ("roll", "moons")  # docs/results.md's tables of this study (``result_table``)
ROLL_NAMES = {"flow": "flow, Euler", "reflow": "reflow, Euler", "teacher": "teacher"}


def result_table(table, key: str) -> str:
    """``roll``: each method's median distance to the curve and fraction
    beyond the threshold by NFE, then the one-step student's error split and
    each flow's straightness; ``moons``: W2 by coupling and NFE, mean and
    standard error over seeds, beside the floor. Markdown, ``value ± se``."""
    from ..tables import markdown, pm

    table = table.fillna({"teacher": "", "coupling": ""})
    if key == "roll":
        roll = table[(table["part"] == "roll") & (table["nfe"] > 0)]
        wide = roll.pivot_table(
            index=["method", "teacher", "nfe"], columns="metric", values=["value", "se"], sort=False
        )
        rows = [
            [
                ROLL_NAMES.get(m, m),
                t,
                nfe,
                pm(r[("value", "curve_median")], r[("se", "curve_median")]),
                pm(r[("value", "curve_far")], r[("se", "curve_far")]),
            ]
            for (m, t, nfe), r in wide.iterrows()
        ]
        text = markdown(
            ["method", "teacher", "NFE", "median to the curve", "fraction beyond the threshold"], rows
        )
        err = roll[roll["metric"].str.startswith("error_")].set_index("metric")
        split = ", ".join(f"{m[6:]} {pm(err.at[m, 'value'], err.at[m, 'se'])}" for m in err.index)
        paths = table[(table["part"] == "roll") & (table["metric"] == "straightness")]
        straight = ", ".join(f"{r.method} ({r.teacher}) {pm(r.value, r.se)}" for r in paths.itertuples())
        return f"{text}\n\nThe one-step student's median error: {split}.\nStraightness S: {straight}."
    if key == "moons":
        moons = table[(table["part"] == "moons") & (table["metric"] == "w2")]
        stats = (
            moons[moons["method"] == "flow"]
            .groupby(["nfe", "coupling"])["value"]
            .agg(["mean", "sem", "count"])
        )
        couplings = [c for c in ("independent", "ot", "exact") if c in set(moons["coupling"])]

        def cell(nfe, coupling):  # mean ± standard error over seeds
            if (nfe, coupling) not in stats.index:
                return ""
            s = stats.loc[(nfe, coupling)]
            return pm(s["mean"], s["sem"]) if s["count"] > 1 else f"{s['mean']:.3f} (one seed)"

        nfes = sorted(moons.loc[moons["method"] == "flow", "nfe"].unique())
        text = markdown(["NFE", *couplings], [[nfe, *(cell(nfe, c) for c in couplings)] for nfe in nfes])
        floor = moons[moons["method"] == "floor"]["value"]
        floor_text = pm(floor.mean(), floor.sem() if len(floor) > 1 else 0)
        return f"{text}\n\nThe floor (W2 between two draws of the moons): {floor_text}."
    raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")


def figure(table, arrays, data_sets, tables, spec, name, path):
    """Roll quality against NFE (median, far fraction), the one-step samples
    coloured by their error, straightness and excess cost, the moons' W2
    against NFE with the floor, and the student's error split."""
    from .. import plots  # matplotlib: only the figure job imports it

    table = table.fillna({"teacher": "", "coupling": ""})  # empty strings come back from the CSV as NaN
    fig, axes = plots.plt.subplots(2, 3, figsize=(17, 9.5))
    roll = table[(table["part"] == "roll") & (table["nfe"] > 0)]
    colours = {"flow": "C0", "reflow": "C2", "distill": "C3", "distill+denoise": "C1", "teacher": "k"}
    for ax, metric, label in (
        (axes[0, 0], "curve_median", "median distance to the curve"),
        (axes[0, 1], "curve_far", f"fraction beyond {spec['curve_threshold']} of the curve"),
    ):
        part = roll[roll["metric"] == metric]
        for (method, teacher), rows in part.groupby(["method", "teacher"], sort=False):
            rows = rows.sort_values("nfe")
            marker = "*" if method == "teacher" else "o"
            ax.errorbar(
                rows["nfe"],
                rows["value"],
                yerr=rows["se"],
                fmt="-" + marker,
                color=colours[method],
                mfc="none" if teacher == "exact" else colours[method],
                ms=10 if method == "teacher" else 6,
                capsize=3,
                label=f"{method} ({teacher})",
            )
        ax.set(xscale="log", yscale="log", xlabel="NFE", ylabel=label)
        if metric == "curve_far":  # 0 (the exact teacher) must show: linear below 1e-3
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(0, 1.2)
    axes[0, 0].legend(fontsize=7)
    ax = axes[0, 2]
    err = np.linalg.norm(arrays["distill"] - arrays["exact"], axis=1)
    ax.scatter(*arrays["exact"].T, s=1, color="0.7", label="exact map Phi(z)")
    dots = ax.scatter(*arrays["distill"].T, s=2, c=np.log10(np.maximum(err, 1e-6)), cmap="viridis")
    fig.colorbar(dots, ax=ax, label="log10 |G(z) - Phi(z)|")
    ax.set(aspect="equal", title="one evaluation: G(z)")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[1, 0]
    paths = table[table["metric"].isin(["straightness", "excess_cost"])]
    paths = paths.assign(
        name=paths["part"] + ": " + paths["method"] + " " + paths["teacher"] + paths["coupling"]
    )
    mean = paths.groupby(["name", "metric"], sort=False)["value"].mean().unstack()
    x = np.arange(len(mean))
    ax.bar(x - 0.2, mean["straightness"], 0.4, label="straightness S")
    ax.bar(x + 0.2, mean["excess_cost"], 0.4, label="TC - W2^2")
    ax.set_xticks(x, mean.index, rotation=30, ha="right", fontsize=7)
    ax.set_yscale("symlog", linthresh=1e-3)  # an OT flow's excess is 0
    ax.set(ylabel="mean over starts", title="along each flow's own paths")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    moons = table[(table["part"] == "moons") & (table["metric"] == "w2")]
    floor = moons[moons["method"] == "floor"]["value"]
    ax.axhspan(0, floor.mean(), color="grey", alpha=0.25, label="floor: two draws")
    for coupling, rows in moons[moons["method"] == "flow"].groupby("coupling", sort=False):
        stats = rows.groupby("nfe")["value"].agg(["mean", "sem"]).fillna(0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["sem"], fmt="-o", capsize=3, label=coupling)
    ax.set(xscale="log", xlabel="NFE (Euler; the last: Heun)", ylabel="W2 to held-out moons")
    ax.set_title("8 Gaussians -> moons", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    errors = table[table["metric"].str.startswith("error_")]
    ax.bar(
        errors["metric"].str[6:], errors["value"], yerr=errors["se"], color=["C3", "0.5", "C1"][: len(errors)]
    )
    ax.set(ylabel="median distance (data units)", title="one-step student: whose error?")
    fig.suptitle(f"{name}: generation in one or two evaluations, against the exact flow map", fontsize=11)
    fig.tight_layout()
    plots.save(fig, path)
