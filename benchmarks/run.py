"""Cold-run cost of the workflow: wall time, CPU time, and CPU per rule.

Usage: python benchmarks/run.py [all|exp3|exp4] [--cores N] [--runs K] [--record FILE]

The target is built from scratch in a temporary folder with the repo's
config. CPU time is what the run's processes used (user + sys of Snakemake
and every job, from the operating system); the per-rule split comes from each
job's own CPU time, the last line of its log. Machines here are shared and
noisy, so times are also given as a ratio to a calibration run made in the
same session: one cheap job (make_data of exp1) run cold the same way,
which is mostly the start-up of Python and Snakemake.

``--record FILE`` also writes the measurement as JSON (``make bench``
writes ``benchmarks/cost.json``, from which ``make docs`` prints the
README's cost line and docs/results.md's cost table: no number about cost
is copied by hand). ``--runs K`` builds the target cold K times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from stepdiff.io import CPU_LINE

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "all": [],
    "exp3": ["results/figures/exp3.jpg"],
    "exp4": ["results/figures/exp4.jpg"],
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_run(targets, cores):
    """(wall s, CPU s, folder) of a snakemake run in a fresh folder."""
    workdir = Path(tempfile.mkdtemp(prefix="stepdiff-bench-"))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--configfile", str(REPO / "config/config.yaml"), "--cores", str(cores), *targets]
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start, children_cpu() - cpu, workdir


def job_cpu(log: Path) -> float:
    """A job's CPU seconds, from the last line of its log (``io.log_to``)."""
    last = log.read_text().rstrip().rsplit("\n", 1)[-1]
    if CPU_LINE not in last:
        raise ValueError(f"{log}: no '{CPU_LINE}' line at its end (a job killed before it could exit?)")
    return float(last.split(CPU_LINE)[1])


def per_rule(workdir) -> pd.DataFrame:
    """Jobs, wall and CPU seconds per rule: wall from Snakemake's benchmark
    (results/benchmarks/{rule}/**.tsv), CPU from the job's own log beside it
    (results/logs/{rule}/**.log): the benchmark samples CPU every 30 s once a
    job has run 30 s, and misses the rest."""
    rows = []
    results = workdir / "results"
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        bench = pd.read_csv(tsv, sep="\t")
        name = tsv.relative_to(results / "benchmarks")
        cpu = job_cpu((results / "logs" / name).with_suffix(".log"))
        rows.append({"rule": name.parts[0], "wall_s": bench["s"].iloc[0], "cpu_s": cpu})
    table = (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(jobs=("cpu_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"))
    )
    table["cpu_per_job"] = table["cpu_s"] / table["jobs"]
    return table.sort_values("cpu_s", ascending=False)


def record(path, target, cores, runs, rules) -> None:
    """The measurement as JSON: each run's wall and CPU seconds and job
    count, and the first run's CPU per rule (what ``make docs`` prints)."""
    each = {rule: {"jobs": int(r.jobs), "cpu_s": round(float(r.cpu_s), 1)} for rule, r in rules.iterrows()}
    out = {
        "date": datetime.date.today().isoformat(),
        "target": target,
        "cores": cores,
        "machine_cores": os.cpu_count(),
        "runs": runs,
        "rules": each,
    }
    Path(path).write_text(json.dumps(out, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS, nargs="?", default="all")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="cold runs of the target")
    parser.add_argument("--record", help="also write the measurement to this JSON file")
    args = parser.parse_args()
    cal, cal_cpu, _ = cold_run(["results/data/exp1/train.npy"], 1)
    runs, first = [], None
    for _ in range(args.runs):
        wall, cpu, workdir = cold_run(TARGETS[args.target], args.cores)
        rules = per_rule(workdir)
        first = rules if first is None else first
        runs.append({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "jobs": int(rules["jobs"].sum())})
        print(f"target: {args.target} (cold, --cores {args.cores}) in {workdir}")
        print(f"wall time: {wall:7.1f} s  = {wall / cal:5.1f} x calibration ({cal:.1f} s)")
        print(f"CPU time:  {cpu:7.1f} s  = {cpu / cal_cpu:5.1f} x calibration ({cal_cpu:.1f} s)")
        print(f"jobs: {rules['jobs'].sum()}, their CPU {rules['cpu_s'].sum():.1f} s; the rest is Snakemake")
    print(first.round(2).to_string())
    if args.record:
        record(args.record, args.target, args.cores, runs, first)


if __name__ == "__main__":
    main()
