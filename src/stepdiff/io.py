"""Small I/O helpers shared by the workflow scripts."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np


def log_to(path: str) -> logging.Logger:
    """Send this job's log messages and any traceback to the rule's log file."""
    handle = open(path, "w", buffering=1)
    sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    return logging.getLogger("stepdiff")


def save_npy(path: str, array: np.ndarray) -> None:
    """Write through a temporary file so a failed job leaves no complete-looking output."""
    tmp = f"{path}.tmp.npy"
    np.save(tmp, np.asarray(array, dtype=np.float64))
    os.replace(tmp, path)


def save_csv(path: str, frame) -> None:
    tmp = f"{path}.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
