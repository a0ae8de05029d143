"""Cold-run benchmarks of the workflow, printed next to sample quality.

Usage: python benchmarks/run.py [exp3|all] [--cores N]

Each target is built from scratch in a temporary folder with the repo's
config. Machines here are shared and noisy, so every time is also given as a
ratio to a calibration run measured in the same session: one cheap job
(make_data of exp1) run cold the same way, which costs mostly interpreter
and Snakemake start-up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from stepdiff import metrics  # noqa: E402

TARGETS = {"exp3": ["results/figures/exp3.jpg"], "all": []}


def cold_run(targets, cores, workdir=None):
    """Wall seconds of a snakemake run in a fresh folder; returns (seconds, folder)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="stepdiff-bench-"))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config/config.yaml"),
        "--cores",
        str(cores),
        *targets,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start, workdir


def quality(workdir):
    """Energy distance of the 1000-step exp3 runs to held-out data, with its floor."""
    res = workdir / "results"
    test = np.load(res / "data/exp3/test.npy")
    floor = metrics.energy_distance(np.load(res / "data/exp3/floor.npy"), test)
    rows = [("noise floor (two held-out draws)", floor)]
    for label in ("ddpm", "ddim"):
        x = np.load(res / f"samples/exp3/{label}-1000.npy")
        rows.append((f"{label} learned, 1000 steps", metrics.energy_distance(x, test)))
        ref = res / f"reference/exp3/{label}-1000.npy"
        if ref.exists():
            rows.append((f"{label} exact denoiser, 1000 steps", metrics.energy_distance(np.load(ref), test)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS, nargs="?", default="exp3")
    parser.add_argument("--cores", type=int, default=None, help="default: 2 for exp3, 4 for all")
    args = parser.parse_args()
    cores = args.cores or (2 if args.target == "exp3" else 4)
    calibration, _ = cold_run(["results/data/exp1/train.npy"], 1)
    seconds, workdir = cold_run(TARGETS[args.target], cores)
    print(f"target: {args.target} (cold, --cores {cores}) in {workdir}")
    print(f"wall time:   {seconds:7.1f} s")
    print(f"calibration: {calibration:7.1f} s (one cheap job, cold)")
    print(f"ratio:       {seconds / calibration:7.1f} x calibration")
    if args.target in ("exp3", "all"):
        print("energy distance to 5000 held-out points (MATH.md section 7, U-statistic):")
        for name, value in quality(workdir):
            print(f"  {name:40s} {value: .5f}")


if __name__ == "__main__":
    main()
