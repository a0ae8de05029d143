"""Small I/O helpers shared by the workflow scripts."""

from __future__ import annotations

import atexit
import csv
import logging
import os
import sys
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

CPU_LINE = "job CPU-s:"  # the last line of a job's log; benchmarks/run.py reads it


def log_to(path: str) -> logging.Logger:
    """Send this job's log messages and any traceback to the rule's log file,
    and, as the process exits, its CPU time: user and system, every thread,
    imports included. Snakemake's benchmark samples a job's CPU every second,
    then every 30 s, and keeps the last sample: it misses up to 30 s of a
    long job."""
    handle = open(path, "w", buffering=1)
    sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    log = logging.getLogger("stepdiff")
    atexit.register(_log_cpu, log)
    return log


def _log_cpu(log):
    t = os.times()
    log.info("%s %.2f", CPU_LINE, t.user + t.system + t.children_user + t.children_system)


@contextmanager
def atomic(path, suffix=""):
    """Yield a temporary path that replaces ``path`` only if the block succeeds,
    so a failed job leaves no complete-looking output."""
    tmp = f"{path}.tmp{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npy(path: str, array: np.ndarray) -> None:
    with atomic(path, ".npy") as tmp:  # np.save appends .npy to other names
        np.save(tmp, np.asarray(array, dtype=np.float64))


def save_arrays(path: str, arrays: dict) -> None:
    """Named float64 arrays as one ``.npz`` (no pickle)."""
    with atomic(path, ".npz") as tmp:  # np.savez appends .npz to other names
        np.savez(tmp, **{key: np.asarray(a, dtype=np.float64) for key, a in arrays.items()})


class Trajectories(NamedTuple):
    """A run's recorded paths, at the sampler's grid indices ``rows``
    (increasing, 0 at t = 1 and the last at t = 0; ``runner.recorded_rows``):
    ``paths`` (len(rows), n_trajectories, d), the figure's lines, and
    ``cloud`` (len(rows), min(n_samples, 2000), d), the animation's particles;
    both follow the run's first samples, so ``cloud[-1]`` is the first rows of its samples."""

    rows: np.ndarray
    paths: np.ndarray
    cloud: np.ndarray


def save_runs(path: str, runs: dict) -> None:
    """A sampler sweep, ``{steps: (samples, Trajectories)}``, as arrays
    ``samples-{steps}``, ``rows-{steps}``, ``trajectories-{steps}`` (the paths)
    and ``cloud-{steps}`` of one ``.npz``."""
    arrays = {}
    for steps, (samples, (rows, paths, cloud)) in runs.items():
        arrays[f"samples-{steps}"], arrays[f"rows-{steps}"] = samples, rows
        arrays[f"trajectories-{steps}"], arrays[f"cloud-{steps}"] = paths, cloud
    save_arrays(path, arrays)


def load_run(path: str, steps: int) -> tuple[np.ndarray, Trajectories]:
    """(samples, :class:`Trajectories`) of one step count of a sweep file (:func:`save_runs`)."""
    with np.load(path) as runs:
        if f"rows-{steps}" not in runs:
            raise ValueError(f"{path}: no rows-{steps} (an older layout?): rerun its sampling job")
        rows = runs[f"rows-{steps}"].astype(int)
        return runs[f"samples-{steps}"], Trajectories(
            rows, runs[f"trajectories-{steps}"], runs[f"cloud-{steps}"]
        )


def save_text(path: str, text: str) -> None:
    with atomic(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def save_csv(path: str, frame) -> None:
    with atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_rows(path: str, rows: list[dict], columns) -> None:
    """Table rows as CSV without pandas (whose import costs a job 0.5 s)."""
    with atomic(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
