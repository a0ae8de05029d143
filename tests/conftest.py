"""Helpers to run the real snakemake on a config in a temporary folder."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(workdir, *args, config=None, check=True, cwd=None):
    """Run snakemake on the repo's Snakefile in ``workdir`` (from the folder ``cwd``,
    by default this process's); returns the CompletedProcess."""
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        cmd += ["--configfile", str(config)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(proc) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table ({} if nothing to do)."""
    text = proc.stdout + proc.stderr
    if "Job stats" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def arrays_in(path) -> dict:
    """The arrays of a ``.npy`` file, or of each entry of an ``.npz`` file (a sweep)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as runs:
            return {key: runs[key] for key in runs.files}
    return {"": np.load(path)}


def write_config(path, config):
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_test_config():
    return yaml.safe_load(TEST_CONFIG.read_text())


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The small test config, run once to completion with 2 cores."""
    workdir = tmp_path_factory.mktemp("run")
    config = shutil.copy(TEST_CONFIG, workdir / "config.yaml")
    snakemake(workdir, "--cores", "2", config=config)
    return workdir, Path(config)


def grid_times(steps, kind="uniform", t_min=1e-4):
    """A grid's times as an array (``grids.times`` returns a list: it is pure Python)."""
    from stepdiff.grids import times

    return np.array(times(steps, kind, t_min))
