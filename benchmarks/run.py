"""Cold-run cost of the workflow: wall time, CPU time, and CPU per rule.

Usage: python benchmarks/run.py [all|exp3|exp4] [--cores N]

The target is built from scratch in a temporary folder with the repo's
config. CPU time is what the run's processes used (user + sys of Snakemake
and every job, from the operating system); the per-rule split comes from the
rules' own benchmark files. Machines here are shared and noisy, so times are
also given as a ratio to a calibration run made in the same session: one
cheap job (make_data of exp1) run cold the same way, which is mostly the
start-up of Python and Snakemake.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

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


def per_rule(workdir) -> pd.DataFrame:
    """Jobs, wall and CPU seconds per rule, from results/benchmarks/{rule}/**.tsv."""
    rows = []
    for tsv in (workdir / "results" / "benchmarks").rglob("*.tsv"):
        bench = pd.read_csv(tsv, sep="\t")
        rule = tsv.relative_to(workdir / "results" / "benchmarks").parts[0]
        rows.append({"rule": rule, "wall_s": bench["s"].iloc[0], "cpu_s": bench["cpu_time"].iloc[0]})
    table = (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(jobs=("cpu_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"))
    )
    table["cpu_per_job"] = table["cpu_s"] / table["jobs"]
    return table.sort_values("cpu_s", ascending=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS, nargs="?", default="all")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    calibration, calibration_cpu, _ = cold_run(["results/data/exp1/train.npy"], 1)
    wall, cpu, workdir = cold_run(TARGETS[args.target], args.cores)
    rules = per_rule(workdir)
    print(f"target: {args.target} (cold, --cores {args.cores}) in {workdir}")
    print(f"wall time: {wall:7.1f} s  = {wall / calibration:5.1f} x calibration ({calibration:.1f} s)")
    print(f"CPU time:  {cpu:7.1f} s  = {cpu / calibration_cpu:5.1f} x calibration ({calibration_cpu:.1f} s)")
    print(
        f"jobs: {rules['jobs'].sum()}, their CPU {rules['cpu_s'].sum():.1f} s; the rest is Snakemake itself"
    )
    print(rules.round(2).to_string())


if __name__ == "__main__":
    main()
