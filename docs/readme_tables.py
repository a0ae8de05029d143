"""Rewrite the result tables of README.md and docs/results.md from results/ (``make docs``).

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``
in one of the two files: docs/results.md holds every full table, the README
a few headline tables, each some rows and columns of a full one. Only the
text between the markers changes, so the prose around them is kept byte for
byte, and the same results give the same files. A table whose marker is in
neither file, or in both, stops the script naming it.
Every measured number is printed as ``value ± standard error`` (the tables'
``*_se`` columns; for a fraction ``f`` of ``n`` samples the binomial
``sqrt(f (1 - f) / n)``), with two significant digits of the error. Exact
values are printed after ``exact``, noise floors after ``floor`` (with their
error where the table records one). The experiments' tables are written
here; each study's are its module's (``RESULT_TABLES``, ``result_table``),
marked ``{study}_{key}``, as the report's captions print them.

    python docs/readme_tables.py [--results results] [--readme README.md]
                                 [--results-doc docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import re
from functools import partial
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import yaml

from stepdiff import studies
from stepdiff.studies.start import sigma_table
from stepdiff.tables import binomial, cells, markdown, num, places, pm, run_name, sampler_name
from stepdiff.tables import select as select_run

ROOT = Path(__file__).resolve().parents[1]
# A marker is a line of its own; the text between a pair is replaced.
MARKER = re.compile(r"^(<!-- table:([\w-]+) -->\n).*?^(<!-- /table:\2 -->)$", re.S | re.M)
OPENING = re.compile(r"^<!-- table:([\w-]+) -->$", re.M)
# The runs each table shows, as (sampler, grid, steps) with the experiment and denoiser
# in front where the table has several; a run missing from results/ stops the script.
EXP0 = [("ddpm", "uniform", 10), ("ddpm", "uniform", 1000), ("ddim", "uniform", 10)]
EXP0 += [("ddim", "uniform", 1000), ("ddim", "karras", 10), ("ddim", "karras", 1000)]
POINT_MASSES = [("exp1", "ddim", "uniform", 20), ("exp2", "ddim", "uniform", 50)]
POINT_MASSES += [("exp6", "euler", "uniform", 50)]
ROLL = [
    ("exp3", "learned", "ddpm", "uniform", 1000),
    ("exp3", "learned", "ddim", "uniform", 1000),
    ("exp3", "learned", "ddim", "karras", 50),
    ("exp3", "exact", "ddim", "karras", 50),
    ("exp7", "learned", "heun", "karras", 25),
    ("exp7", "learned", "ddim", "karras", 50),
    ("exp7", "exact", "heun", "karras", 25),
    ("exp5", "learned", "euler", "uniform", 50),
    ("exp5", "learned", "euler", "uniform", 100),
    ("exp5", "learned", "heun", "uniform", 25),
    ("exp5", "learned", "heun", "karras", 25),
    ("exp5", "exact", "euler", "uniform", 100),
]
# Few evaluations: the multistep samplers beside Heun and DDIM on the roll at sigma = 80
# (exp7, whose references are at every step count) and the flow (exp5).
FAST = [("exp7", d, "dpmpp_2m", "karras", s) for s in (5, 10, 20) for d in ("exact", "learned")]
FAST += [("exp7", d, "unipc", "logsnr", s) for s in (5, 10, 20) for d in ("exact", "learned")]
FAST += [("exp7", d, "heun", "karras", 13) for d in ("exact", "learned")]
FAST += [("exp7", d, "ddim", "karras", 25) for d in ("exact", "learned")]
FAST += [("exp5", "learned", sampler, "sigma", s) for sampler in ("dpmpp_2m", "unipc") for s in (10, 20)]
FAST += [("exp5", "learned", "euler", "uniform", 20)]
EXP4 = [("exp4", "learned", "euler", "uniform", s) for s in (20, 50, 100)]
EXP4 += [("exp4", "learned", "heun", "uniform", 25), ("exp4", "learned", "heun", "sigma", 25)]
# The start study's sampler, and the learned experiments drawn beside it in its table
# with their sigma (config/config.yaml: starts.start.sampler, steps, learned).
START_RUN = ("ddim", "karras", 50)
START_EXPERIMENTS = {"exp3": 1.0, "exp7": 80.0}


# What `make bench` measured (benchmarks/run.py --record): the cost line and table.
COST = ROOT / "benchmarks" / "cost.json"


def measured_cost() -> dict:
    if not COST.is_file():
        raise SystemExit(f"{COST} is missing: run `make bench` first (the cost of a run comes from it)")
    return json.loads(COST.read_text())


def cost(results: Path) -> str:
    """Each cold run's wall and CPU time (the README's headline), and the CPU
    of each rule's jobs (each job's own log: ``benchmarks/run.py``)."""
    cost = measured_cost()
    runs = markdown(
        ["run", "wall (s)", "CPU (s)", "jobs"],
        [[i + 1, f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}", r["jobs"]] for i, r in enumerate(cost["runs"])],
    )
    rules = sorted(cost["rules"].items(), key=lambda item: -item[1]["cpu_s"])
    rows = [[f"`{n}`", r["jobs"], f"{r['cpu_s']:.0f}", f"{r['cpu_s'] / r['jobs']:.1f}"] for n, r in rules]
    total = [sum(r["jobs"] for _, r in rules), sum(r["cpu_s"] for _, r in rules)]
    rows.append(["all jobs", total[0], f"{total[1]:.0f}", f"{total[1] / total[0]:.1f}"])
    per_rule = markdown(["rule", "jobs", "CPU (s)", "CPU per job (s)"], rows)
    where = f"`make bench` on {cost['date']}, `--cores {cost['cores']}`, {cost['machine_cores']} cores."
    return f"{runs}\n\n{where} The first run's CPU by rule:\n\n{per_rule}"


def read(results: Path, name: str) -> pd.DataFrame:
    path = Path(results) / name
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `make run` first (the result tables come from results/)")
    return pd.read_csv(path)


def select(table: pd.DataFrame, where: str, **keys) -> pd.DataFrame:
    """The rows of one run, indexed by metric; a clear error when the run is absent."""
    try:
        return select_run(table, **keys)
    except LookupError as error:
        raise SystemExit(f"{where} has {error}: is results/ from the current config?") from None


def with_floor(run: pd.DataFrame, metric: str) -> str:
    """``value ± se (floor f)``: the floor at the run's size, with its error if recorded."""
    value, se = run.at[metric, "value"], run.at[f"{metric}_se", "value"]
    floor, floor_se = run.at[metric, "noise_floor"], run.at[f"{metric}_se", "noise_floor"]
    shown = pm(floor, floor_se) if pd.notna(floor_se) else num(floor, places(se))
    return f"{pm(value, se)} (floor {shown})"


def exp0(results: Path) -> str:
    """exp0's moments against the exact output law of each sampler and grid."""
    where = "metrics/exp0.csv"
    table, rows = read(results, where), []
    for sampler, grid, steps in EXP0:
        r = select(table, where, sampler=sampler, grid=grid, steps=steps)
        cells = []
        for m in ("mean", "std"):
            value, se, exact = (r.at[key, "value"] for key in (m, f"{m}_se", f"exact_{m}"))
            cells.append(f"{pm(value, se)} (exact {num(exact, places(se))})")
        rows.append([f"{sampler_name(sampler)}, {grid}", steps, *cells])
    return markdown(["sampler, grid", "steps", "mean", "std"], rows)


def point_masses(results: Path) -> str:
    """The fraction of samples within 1e-3 of each mass."""
    rows = []
    for experiment, sampler, grid, steps in POINT_MASSES:
        where = f"metrics/{experiment}.csv"
        r = select(read(results, where), where, sampler=sampler, grid=grid, steps=steps)
        masses = sorted(m for m in r.index if m.startswith("frac_at_mass_"))
        n = int(r["n"].iloc[0])
        fractions = [binomial(r.at[m, "value"], n) for m in masses]
        rows.append([experiment, run_name(sampler, grid, steps), n, *fractions, *[""] * (2 - len(masses))])
    return markdown(["experiment", "sampler, grid, steps", "samples", "at mass 1", "at mass 2"], rows)


def each_run(results: Path, runs):
    """Each (experiment, denoiser, sampler, grid, steps) of ``runs`` with its
    rows of the experiment's table, indexed by metric."""
    tables = {}
    for run in runs:
        experiment, denoiser, sampler, grid, steps = run
        where = f"metrics/{experiment}.csv"
        if experiment not in tables:
            tables[experiment] = read(results, where)
        yield (
            run,
            select(tables[experiment], where, denoiser=denoiser, sampler=sampler, grid=grid, steps=steps),
        )


def distances(results: Path, runs) -> str:
    """Energy distance and nn median of learned and exact runs, each beside its noise floor."""
    rows = []
    for (experiment, denoiser, sampler, grid, steps), r in each_run(results, runs):
        label = [experiment, denoiser, run_name(sampler, grid, steps), r["nfe"].iloc[0], r["n"].iloc[0]]
        rows.append(label + [with_floor(r, "energy"), with_floor(r, "nn_median")])
    header = ["experiment", "denoiser", "sampler, grid, steps", "NFE", "samples", "energy", "nn median"]
    return markdown(header, rows)


def curve(results: Path, runs) -> str:
    """Distances to the roll's curve itself: median and 99th percentile with
    their errors, and the fraction of samples farther than the threshold."""
    rows = []
    for (experiment, denoiser, sampler, grid, steps), r in each_run(results, runs):
        cells = [pm(r.at[m, "value"], r.at[f"{m}_se", "value"]) for m in ("curve_median", "curve_p99")]
        n = int(r["n"].iloc[0])
        far = binomial(r.at["curve_far", "value"], n)  # its binomial error, as the table's curve_far_se
        rows.append([experiment, denoiser, run_name(sampler, grid, steps), n, *cells, far])
    header = ["experiment", "denoiser", "sampler, grid, steps", "samples", "median", "99th percentile"]
    return markdown([*header, "fraction beyond 0.01"], rows)


def fast(results: Path) -> str:
    """Energy distance and the distance to the curve at few evaluations."""
    rows = []
    for (experiment, denoiser, sampler, grid, steps), r in each_run(results, FAST):
        n = int(r["n"].iloc[0])
        median = pm(r.at["curve_median", "value"], r.at["curve_median_se", "value"])
        far = binomial(r.at["curve_far", "value"], n)
        label = [experiment, denoiser, run_name(sampler, grid, steps), r["nfe"].iloc[0], n]
        rows.append(label + [with_floor(r, "energy"), median, far])
    header = ["experiment", "denoiser", "sampler, grid, steps", "NFE", "samples", "energy"]
    return markdown([*header, "median to the curve", "fraction beyond 0.01"], rows)


def start(results: Path) -> str:
    """The start study's table (its module's ``sigma_table``) with the learned
    experiments' runs of its sampler beside it. They are the experiments'
    metrics, which a study's ``result_table`` does not see (it reads the
    study's own table): the report's caption shows the table without them."""
    study = read(results, "studies/start/table.csv")
    sampler, grid, steps = START_RUN
    experiments = {}
    for experiment, sigma in START_EXPERIMENTS.items():
        where = f"metrics/{experiment}.csv"
        r = select(read(results, where), where, denoiser="learned", sampler=sampler, grid=grid, steps=steps)
        experiments[experiment] = (sigma, r.at["energy", "value"], r.at["energy_se", "value"])
    return sigma_table(study, experiments, START_RUN)


TABLES = {
    "cost": cost,
    "exp0": exp0,
    "point_masses": point_masses,
    "roll": lambda results: distances(results, ROLL),
    "roll_curve": lambda results: curve(results, ROLL),
    "exp4": lambda results: distances(results, EXP4),
    "fast": fast,
}


def study_tables() -> dict:
    """The tables a study module prints itself (its ``RESULT_TABLES``, by
    ``result_table``), for each study of the default config: ``{study}_{key}``."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    out = {}
    for section in studies.SECTIONS:
        module = studies.module(section)
        for study in config.get(section, {}):
            for key in getattr(module, "RESULT_TABLES", ()):
                out[f"{study}_{key}"] = partial(study_table, module, study, key)
    return out


def study_table(module, study: str, key: str, results: Path) -> str:
    return module.result_table(read(results, f"studies/{study}/table.csv"), key)


TABLES.update(study_tables())
TABLES["start_sigmas"] = start  # the start study's table, with the experiments beside it


class Headline(NamedTuple):
    """Some rows and columns of a full table, for the README.

    ``rows``: each row's leading cells (all rows when None), in the full
    table's order; ``columns``: header names (all when None); ``notes``: keep
    the lines below the full table (the memorisation study's crossings)."""

    table: str
    rows: tuple | None = None
    columns: tuple | None = None
    notes: bool = False


HEADLINES = {
    "headline_cost": Headline("cost"),
    "headline_exp0": Headline(
        "exp0", rows=(("DDPM, uniform", "1000"), ("DDIM, uniform", "1000"), ("DDIM, karras", "1000"))
    ),
    "headline_fast": Headline(
        "fast",
        rows=(
            ("exp7", "exact", "2M, karras, 10"),
            ("exp7", "learned", "2M, karras, 10"),
            ("exp7", "learned", "2M, karras, 20"),
            ("exp7", "exact", "UniPC, logsnr, 5"),
            ("exp7", "learned", "UniPC, logsnr, 5"),
            ("exp7", "learned", "UniPC, logsnr, 10"),
        ),
        columns=(
            "denoiser",
            "sampler, grid, steps",
            "NFE",
            "energy",
            "median to the curve",
            "fraction beyond 0.01",
        ),
    ),
    "headline_orders": Headline(
        "orders_fitted", rows=tuple(("diffusion", name) for name in ("DDIM", "Heun", "2M", "3M", "UniPC"))
    ),
    "headline_memorisation": Headline(
        "memorisation_fractions",
        columns=("N", "ideal, DDIM", "network, DDIM", "network, DDPM", "fresh data"),
        notes=True,
    ),
    "headline_guidance": Headline(
        "guidance_gaussian", rows=(("0",), ("1",), ("3",), ("7",)), columns=("g", "tilted", "ode", "sde")
    ),
}


def subset(name: str, full: str, headline: Headline) -> str:
    """The rows and columns ``headline`` names of the full table's text ``full``."""
    lines = full.split("\n")
    n = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    header, rows = cells(lines[0]), [cells(line) for line in lines[2:n]]
    if headline.rows is not None:
        for key in headline.rows:
            if not any(tuple(row[: len(key)]) == key for row in rows):
                raise SystemExit(f"table {name}: table {headline.table} has no row {', '.join(key)}")
        rows = [row for row in rows if any(tuple(row[: len(key)]) == key for key in headline.rows)]
    columns = headline.columns or tuple(header)
    missing = [column for column in columns if column not in header]
    if missing:
        raise SystemExit(f"table {name}: table {headline.table} has no columns {missing}; it has {header}")
    keep = [header.index(column) for column in columns]
    text = markdown(list(columns), [[row[i] for i in keep] for row in rows])
    rest = "\n".join(lines[n:])
    return f"{text}\n{rest}" if headline.notes and rest.strip() else text


def table(name: str, results: Path, cache: dict) -> str:
    """The text of table ``name`` (full or headline), each full table computed once."""
    if name not in cache:
        if name in HEADLINES:
            headline = HEADLINES[name]
            cache[name] = subset(name, table(headline.table, results, cache), headline)
        else:
            cache[name] = TABLES[name](results)
    return cache[name]


def markers(text: str, where: str = "README") -> list[str]:
    """The table names ``text`` marks, in order; unpaired or unknown markers stop the script."""
    opened = OPENING.findall(text)
    closed = [m.group(2) for m in MARKER.finditer(text)]
    if opened != closed:
        raise SystemExit(f"{where} markers do not pair up: opened {opened}, closed {closed}")
    known = TABLES.keys() | HEADLINES.keys()
    unknown = sorted(set(opened) - known)
    if unknown:
        raise SystemExit(f"{where} has markers for unknown tables {unknown}; known: {sorted(known)}")
    return opened


def render(readme: str, results: Path, cache: dict | None = None, where: str = "README") -> str:
    """``readme`` with every marked table rebuilt from ``results``; nothing else changes."""
    markers(readme, where)
    cache = {} if cache is None else cache
    return MARKER.sub(lambda m: f"{m.group(1)}\n{table(m.group(2), results, cache)}\n\n{m.group(3)}", readme)


def render_files(texts: dict[str, str], results: Path) -> dict[str, str]:
    """Each file's text (by name) with its tables rebuilt; every table, full and
    headline, must be marked exactly once, in one of the files."""
    holders = {name: [] for name in [*TABLES, *HEADLINES]}
    for where, text in texts.items():
        for name in markers(text, where):
            holders[name].append(where)
    neither = [name for name, found in holders.items() if not found]
    if neither:
        raise SystemExit(f"tables marked in none of {', '.join(texts)}: {', '.join(neither)}")
    twice = [f"{name} (in {', '.join(found)})" for name, found in holders.items() if len(found) > 1]
    if twice:
        raise SystemExit(f"tables marked more than once: {'; '.join(twice)}")
    cache: dict = {}
    return {where: render(text, results, cache, where) for where, text in texts.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--results-doc", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args(argv)
    paths = {str(path): path for path in (args.readme, args.results_doc)}
    texts = {where: path.read_text() for where, path in paths.items()}
    new = render_files(texts, args.results)
    for where, path in paths.items():
        if new[where] != texts[where]:
            path.write_text(new[where])
        state = "rewritten" if new[where] != texts[where] else "unchanged"
        print(f"{where}: {state} ({len(MARKER.findall(texts[where]))} tables)")


if __name__ == "__main__":
    main()
