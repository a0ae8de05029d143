"""Small I/O helpers shared by the workflow scripts."""

from __future__ import annotations

import csv
import logging
import os
import sys
from contextlib import contextmanager

import numpy as np


def log_to(path: str) -> logging.Logger:
    """Send this job's log messages and any traceback to the rule's log file."""
    handle = open(path, "w", buffering=1)
    sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    return logging.getLogger("stepdiff")


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


def save_runs(path: str, runs: dict) -> None:
    """A sampler sweep, ``{steps: (samples, trajectories)}``, as arrays
    ``samples-{steps}`` and ``trajectories-{steps}`` of one ``.npz``."""
    arrays = {}
    for steps, (samples, trajectories) in runs.items():
        arrays[f"samples-{steps}"], arrays[f"trajectories-{steps}"] = samples, trajectories
    save_arrays(path, arrays)


def load_run(path: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(samples, trajectories) of one step count of a sweep file (:func:`save_runs`)."""
    with np.load(path) as runs:
        return runs[f"samples-{steps}"], runs[f"trajectories-{steps}"]


def save_csv(path: str, frame) -> None:
    with atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_rows(path: str, rows: list[dict], columns) -> None:
    """Table rows as CSV without pandas (whose import costs a job 0.5 s)."""
    with atomic(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
