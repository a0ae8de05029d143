"""The report's captions, each with its figure's results table.

A caption's Jinja sees only what Snakemake knows when it builds the DAG (the
job's params, wildcards, the config), so a table that the run writes cannot
reach it as a param without making the figure stale whenever the table
changes. The ``captions`` job writes the caption files instead, once the
tables exist: a caption template of workflow/report/ followed by every
figure's table in RST, each inside a Jinja test on the figure's wildcard, so
that the report shows each figure's own table under its caption. Numbers are
printed by ``tables`` (``value ± se``), as in docs/results.md.
"""

from __future__ import annotations

import re

import pandas as pd

from .tables import binomial, cells, markdown, num, places, pm

# Markup characters of RST's inline syntax, escaped in table text.
INLINE = re.compile(r"([\\*`_|])")


def escaped(text: str) -> str:
    return INLINE.sub(r"\\\1", str(text))


def rst(text: str) -> str:
    """``text`` (markdown tables as ``tables.markdown`` writes them, and lines
    of prose) as RST: each table a list-table, each line of prose a paragraph."""
    out, lines = [], text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            header, rows = cells(lines[i]), [cells(line) for line in lines[i + 2 : j]]
            block = [".. list-table::", "   :header-rows: 1", ""]
            for row in [header, *rows]:
                block += [
                    f"   {'*' if k == 0 else ' '} - {escaped(cell)}".rstrip() for k, cell in enumerate(row)
                ]
            out += [*block, ""]
            i = j
        else:
            if lines[i].strip():
                out += [escaped(lines[i].strip()), ""]
            i += 1
    return "\n".join(out).rstrip() + "\n"


# An experiment's metrics, in docs/results.md's order and names: (metric, header).
WITH_EXACT = (("mean", "mean"), ("std", "std"))  # 1-D data, beside the exact output law
WITH_FLOOR = (("energy", "energy"), ("nn_median", "nn median"))  # beside the noise floor
TO_CURVE = (("curve_median", "median to the curve"), ("curve_p99", "99th percentile"))
FAR = ("curve_far", "fraction far from the curve")


def experiment_table(table: pd.DataFrame) -> str:
    """An experiment's long metrics table (``results/metrics/{experiment}.csv``)
    as docs/results.md prints its runs: one row per run, each measured value
    with its standard error, beside its exact value or noise floor where the
    table has one. Markdown."""
    runs = table.groupby(["denoiser", "sampler", "grid", "steps"], sort=False)
    metrics = set(table["metric"])
    masses = sorted(m for m in metrics if m.startswith("frac_at_mass_"))
    shown = [(m, h) for m, h in (*WITH_EXACT, *WITH_FLOOR, *TO_CURVE, FAR) if m in metrics]
    header = ["denoiser", "sampler, grid, steps", "NFE", "samples"]
    header += [h for _, h in shown] + [f"at mass {k + 1}" for k in range(len(masses))]
    rows = []
    for (denoiser, sampler, grid, steps), run in runs:
        r = run.set_index("metric")
        n = int(run["n"].iloc[0])
        values = [_cell(r, m, n) for m, _ in shown] + [
            binomial(r.at[m, "value"], n) if m in r.index else "" for m in masses
        ]
        rows.append([denoiser, f"{sampler}, {grid}, {steps}", int(run["nfe"].iloc[0]), n, *values])
    return markdown(header, rows)


def _cell(r: pd.DataFrame, metric: str, n: int) -> str:
    if metric not in r.index:
        return ""
    value = r.at[metric, "value"]
    if f"{metric}_se" not in r.index:
        return binomial(value, n) if metric == FAR[0] else num(value, 3)
    se = r.at[f"{metric}_se", "value"]
    text = pm(value, se)
    if f"exact_{metric}" in r.index:
        return f"{text} (exact {num(r.at[f'exact_{metric}', 'value'], places(se))})"
    floor = r.at[metric, "noise_floor"]
    if pd.notna(floor) and metric in dict(WITH_FLOOR):
        floor_se = r.at[f"{metric}_se", "noise_floor"]
        return f"{text} (floor {pm(floor, floor_se) if pd.notna(floor_se) else num(floor, places(se))})"
    return text


def study_table(module, table: pd.DataFrame) -> str:
    """A study's tables of docs/results.md (its module's ``RESULT_TABLES``,
    by ``result_table``), one after the other; none for a module without."""
    return "\n\n".join(module.result_table(table, key) for key in getattr(module, "RESULT_TABLES", ()))


def caption(template: str, wildcard: str, tables: dict[str, str]) -> str:
    """The caption file: ``template``, then for each name of ``tables`` (a
    value of ``wildcard``) its table in RST, shown where the figure's
    ``wildcard`` is that name. Tables are kept out of Jinja (``raw``)."""
    parts = [template.rstrip("\n"), ""]
    for name, text in tables.items():
        if text.strip():
            parts += [f'{{% if snakemake.wildcards.{wildcard} == "{name}" %}}', "{% raw %}", "", rst(text)]
            parts += ["{% endraw %}", "{% endif %}"]
    return "\n".join(parts) + "\n"
