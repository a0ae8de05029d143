"""The orders study (docs/theory.md sections 9 and 13): each deterministic
sampler's order of convergence, measured against the exact flow map.

On data ``N(m, s^2)`` the probability-flow ODE's flow map is closed-form, for
the diffusion and for the flow from a Gaussian source
(``laws.gaussian_flow_map``). A sampler's largest error along its path
from fixed starts (``laws.flow_map_error``) therefore has no start
mismatch and no sampling noise in it: it is the discretisation error alone,
and over a range of step counts it falls as ``C steps^-p``. :func:`fit_order`
finds the range where that law holds and fits ``p`` there. No networks and
no random draws, only numpy: the whole study takes a few CPU-seconds.

Where the law holds (measured; ``tests/test_orders.py``):

* on the karras and logsnr grids every step shrinks in ``lambda = -log tau``
  as well as in ``tau``, and every sampler holds its order from at most 40
  steps (DDIM and Euler from 5 or 10) up to the largest count, 640: DDIM
  and Euler 1, Heun and DPM-Solver++(2M) 2, UniPC 3, and DPM-Solver++(3M)
  2, not 3 (its first step is DDIM's: ``sampling.sample_dpmpp_3m``). Below
  that the error is not yet asymptotic; float64 round-off (about ``1e-13``
  here) is far below the smallest error (UniPC's, ``5e-8`` at 640 steps);
* on the diffusion's uniform grid (uniform in ``t``, so ``tau = sigma
  sqrt(t)`` takes steps of about ``sigma / sqrt(steps)`` near 0) no sampler
  reaches its order by 640 steps;
* on the grids uniform in ``tau`` (the diffusion's sigma grid, the flow's
  uniform grid) the last steps in ``lambda`` are ``log((k + 1)/k)`` whatever
  the count, so the multistep samplers' errors fall at the rate at which
  ``D`` flattens in ``lambda`` there, not at their order; the one-step
  samplers (steps in ``tau``) keep theirs.

The last step to ``t = 0`` returns ``D(x, t_1)`` by design (the slope is
``0/0`` there); the oracle holds it to ``D`` at the exact ``x(t_1)``, so a
grid that stops at ``t_min`` adds no fixed error to the measure.
"""

from __future__ import annotations

import math

from .. import laws, runner
from ..grids import GRIDS
from ..registry import SAMPLERS, ConfigError

SECTION = "orders"  # its config section: every entry there is one study of this kind
COLUMNS = ("sampler", "grid", "process", "steps", "nfe", "error", "order", "fit_from", "fit_to")
KEYS = {
    "run": ("data", "grids", "methods", "sigma", "source", "steps", "t_min"),
    "figure": (),
}
DERIVED: dict = {}
DATA = ()  # nothing drawn: fixed starts, exact denoisers
SPREAD = 0.1  # the law holds where the local slopes agree within this
MIN_SLOPES = 3  # ... over at least this many successive doublings (four counts)
ROUNDOFF = 1e-11  # errors below this (relative to the data's scale) are float64's, not the sampler's


# The report's caption of its figure (reStructuredText; ``{study}``: the study's name).
CAPTION = r"""Orders study **{study}** (docs/theory.md sections 9 and 13): each deterministic sampler's
largest error along its path from five fixed starts against the closed-form flow map of Gaussian data
(no start mismatch, no sampling noise: the discretisation error alone), against the number of denoiser
evaluations, one panel per process and grid. Filled points: the range where the error falls as
:math:`C \cdot \text{steps}^{-p}`, with the fitted :math:`p` in the legend. On the karras and logsnr
grids: DDIM and Euler 1, Heun and DPM-Solver++(2M) 2, DPM-Solver++(3M) 2 (its first step is DDIM's),
UniPC 3. "No fit": the law does not hold by the largest count (the diffusion's uniform grid; multistep
samplers on grids uniform in :math:`\tau`, whose last steps in :math:`\log \tau` do not shrink)."""


def figure_experiments(spec: dict) -> list[str]:
    return []


def check(spec: dict, key: str, config: dict) -> None:
    for name in spec["methods"]:
        if name not in SAMPLERS or SAMPLERS[name].stochastic:
            allowed = [n for n, s in SAMPLERS.items() if not s.stochastic]
            raise ConfigError(f"{key}.methods: {name!r} is not a deterministic sampler; use {allowed}")
    for grid in spec["grids"]:
        if grid not in GRIDS:
            raise ConfigError(f"{key}.grids: unknown grid {grid!r}; use {list(GRIDS)}")
    data = spec["data"]
    if data["kind"] != "gaussian" or len(_flat(data["mean"])) != 1:
        raise ConfigError(f"{key}.data: 1-D gaussian data is needed (its flow map is closed-form)")
    if spec["source"]["kind"] != "gaussian":
        raise ConfigError(f"{key}.source: a gaussian source is needed (its flow map is closed-form)")
    steps = spec["steps"]
    if len(steps) < MIN_SLOPES + 1 or any(a >= b for a, b in zip(steps, steps[1:])):
        raise ConfigError(
            f"{key}.steps: at least {MIN_SLOPES + 1} increasing step counts are needed to fit an order"
        )


def _flat(mean) -> list:
    return list(mean) if isinstance(mean, list) else [mean]


def processes(spec: dict) -> dict:
    """The study's diffusion (``sigma``) and flow (``source``), by kind."""
    from .. import process

    return {
        "diffusion": process.from_config({"sigma": spec["sigma"]}),
        "flow": process.from_config({"source": spec["source"]}),
    }


def starts(proc):
    """Five fixed starts across the source's spread, off its centre."""
    import numpy as np

    return np.linspace(-2.0, 2.0, 5)[:, None] * proc.scale + 0.3


def fit_order(steps, errors, scale: float = 1.0) -> tuple[float, float, float]:
    """``(order, first, last)``: the least-squares slope of ``-log error``
    against ``log steps`` over the longest run of successive step counts
    whose local slopes (between neighbours) lie within :data:`SPREAD` of each
    other, at least :data:`MIN_SLOPES` of them, errors above round-off
    (``ROUNDOFF * scale``); the latest such run if several are longest.
    ``(nan, nan, nan)`` where no run qualifies: the error is not yet (or
    never, on that grid) ``C steps^-p``."""
    import numpy as np

    n, e = np.asarray(steps, dtype=float), np.asarray(errors, dtype=float)
    ok = e > ROUNDOFF * scale
    slopes = -np.diff(np.log(np.where(ok, e, np.nan))) / np.diff(np.log(n))
    best = None  # (number of slopes, first slope index)
    for i in range(len(slopes)):
        for j in range(i + MIN_SLOPES, len(slopes) + 1):
            holds = np.all(np.isfinite(slopes[i:j])) and np.ptp(slopes[i:j]) <= SPREAD
            if holds and (best is None or j - i >= best[0]):
                best = (j - i, i)
    if best is None:
        return math.nan, math.nan, math.nan
    k, i = best
    order = -np.polyfit(np.log(n[i : i + k + 1]), np.log(e[i : i + k + 1]), 1)[0]
    return float(order), float(n[i]), float(n[i + k])


def measure(spec: dict) -> list[dict]:
    """Every sampler of ``methods`` on every process it serves and every grid
    of ``grids``, at every count of ``steps``: rows of :data:`COLUMNS`, each
    with the order fitted over its (sampler, grid, process)."""
    from ..registry import run_label

    mean, std, t_min = float(_flat(spec["data"]["mean"])[0]), float(spec["data"]["std"]), spec["t_min"]
    rows = []
    for kind, proc in processes(spec).items():
        x1 = starts(proc)
        for name in spec["methods"]:
            if kind not in SAMPLERS[name].processes:
                continue
            for grid in spec["grids"]:
                label, steps = run_label(name, grid), spec["steps"]
                errors = [laws.flow_map_error(proc, label, n, mean, std, x1, t_min) for n in steps]
                order, first, last = fit_order(steps, errors, max(abs(mean), std))
                for n, error in zip(steps, errors):
                    nfe = runner.count_nfe(proc, label, n, t_min)
                    rows.append(dict(zip(COLUMNS, (name, grid, kind, n, nfe, error, order, first, last))))
    return rows


def run(params: dict, name: str, inputs: dict, networks: dict) -> tuple[list[dict], dict]:
    """The study's table (:func:`measure`); it saves no arrays."""
    return measure(params), {}


RESULT_TABLES = ("fitted",)  # docs/results.md's tables of this study (``result_table``)


def result_table(table, key: str) -> str:
    """``fitted``: each sampler's fitted order by grid and process (blank: no
    range where the law holds). Markdown."""
    import pandas as pd

    from ..tables import markdown, sampler_name

    if key != "fitted":
        raise ValueError(f"result_table: unknown key {key!r}: expected one of {RESULT_TABLES}")
    fitted = table.groupby(["process", "sampler", "grid"], sort=False)["order"].first().unstack("grid")
    rows = [
        [process, sampler_name(sampler), *("" if pd.isna(v) else f"{v:.2f}" for v in values)]
        for (process, sampler), values in fitted.iterrows()
    ]
    return markdown(["process", "sampler", *fitted.columns], rows)


def figure(table, arrays, data_sets, tables, spec, name, path):
    """Each deterministic sampler's error against the exact flow map of
    Gaussian data (the orders study) against NFE, log-log, one panel per
    process and grid, one colour per sampler: filled points are the range
    where the error is ``C steps^-p``, with the fitted ``p`` in the legend
    (no fit: the law does not hold on that grid by the largest count)."""
    import numpy as np

    from .. import plots  # matplotlib: only the figure job imports it

    samplers = list(dict.fromkeys(table["sampler"]))
    kinds = list(dict.fromkeys(table["process"]))
    grids = list(dict.fromkeys(table["grid"]))
    fig, axes = plots.plt.subplots(
        len(kinds), len(grids), figsize=(4.2 * len(grids), 3.8 * len(kinds)), squeeze=False, sharey=True
    )
    colours = plots.plt.get_cmap("tab10")
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
    plots.save(fig, path)
