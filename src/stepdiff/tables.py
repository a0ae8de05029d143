"""Each experiment's long metrics table (pandas), and the one way numbers are
printed in the docs' tables: ``value ± standard error`` with two significant
digits of the error (docs/readme_tables.py, the report's captions and the
studies' ``result_table``)."""

from __future__ import annotations

import math

import pandas as pd

# Samplers' names as the tables print them (others: as configured).
NAMES = {
    "ddpm": "DDPM",
    "ddim": "DDIM",
    "euler": "Euler",
    "heun": "Heun",
    "dpmpp_2m": "2M",
    "dpmpp_3m": "3M",
    "unipc": "UniPC",
}


def metrics_table(runs: list[pd.DataFrame], floor: pd.DataFrame | None) -> pd.DataFrame:
    """Long table, one row per (run, metric), with the metric's noise floor
    (empty where the experiment has none: point masses)."""
    table = pd.concat(runs, ignore_index=True)
    if floor is None:
        table = table.assign(noise_floor=float("nan"))
    else:
        table = table.merge(floor, on=["metric", "n"], how="left")
    return table.sort_values(["denoiser", "sampler", "grid", "steps", "metric"], ignore_index=True)


def num(x: float, digits: int) -> str:
    text = f"{x:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.000"


def places(se: float) -> int:
    """Decimals that show two significant digits of ``se`` (3 for an error of 0)."""
    return 1 - int(f"{se:.1e}".split("e")[1]) if se > 0 else 3


def pm(value: float, se: float) -> str:
    """``value ± se``, with two significant digits of the error."""
    d = places(se)
    return f"{num(value, d)} ± {num(se, d)}"


def binomial(f: float, n: int) -> str:
    """A fraction ``f`` of ``n`` samples with its binomial error ``sqrt(f (1 - f) / n)``."""
    return pm(f, math.sqrt(f * (1 - f) / n))


def sampler_name(sampler: str) -> str:
    return NAMES.get(sampler, sampler)


def run_name(sampler: str, grid: str, steps: int) -> str:
    """A run as the tables print it: ``DDIM, karras, 50``."""
    return f"{sampler_name(sampler)}, {grid}, {steps}"


def select(table: pd.DataFrame, **keys) -> pd.DataFrame:
    """The rows of one run of a long table (the columns ``keys`` names equal
    to their values), indexed by metric; ``LookupError`` naming the run when
    the table has none."""
    rows = table
    for key, value in keys.items():
        rows = rows[rows[key] == value]
    if rows.empty:
        raise LookupError(f"no run with {', '.join(f'{k}={v}' for k, v in keys.items())}")
    return rows.set_index("metric")


def cells(line: str) -> list[str]:
    """The cells of one row of a table that :func:`markdown` wrote."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])
