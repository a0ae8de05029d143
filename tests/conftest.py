"""Helpers to run the real snakemake on a config in a temporary folder."""

import fcntl
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def worker_threads() -> int | None:
    """A pytest-xdist worker's share of the cores that ``-n auto`` counts (None
    outside xdist). Each worker's numpy (BLAS) and torch threads are set to it,
    as Snakemake sets a job's to its ``threads:``: left at every core, two
    workers' BLAS threads spin against each other on two cores (test_curve's
    quadratures took twice the CPU)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers is None:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores // int(workers))


_SHARE = worker_threads()
if _SHARE is not None:  # before numpy's import, which reads them
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(_SHARE)

import numpy as np  # noqa: E402  (after the thread settings above)
import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(workdir, *args, config=None, check=True, cwd=None, env=None):
    """Run snakemake on the repo's Snakefile in ``workdir`` (from the folder ``cwd``,
    by default this process's; in the environment ``env``, by default this
    process's); returns the CompletedProcess."""
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        cmd += ["--configfile", str(config)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env)
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


class Recorder(dict):
    """A dict that remembers which keys were read (also through ``get`` and ``in``)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


RECORD_HOOK = """\
import atexit, json, os, sys

{recorder}

_out = os.environ.get("STEPDIFF_RECORD_PARAMS")
if _out and os.path.join(".snakemake", "scripts") in sys.argv[0]:
    from snakemake.iocontainers import Snakemake

    class Recorder(_Recorder):  # this file's Recorder, which reading every key marks too
        def _all(self):
            self.read.update(dict.keys(self))

        def __iter__(self):
            self._all()
            return super().__iter__()

        def keys(self):
            self._all()
            return super().keys()

        def items(self):
            self._all()
            return super().items()

        def values(self):
            self._all()
            return super().values()

    class Watched:
        def __init__(self, params):
            values = {name: getattr(params, name) for name in params.keys()}
            self.values = {n: Recorder(v) if isinstance(v, dict) else v for n, v in values.items()}
            self.used = set()

        def __getattr__(self, name):
            if name not in self.__dict__["values"]:
                raise AttributeError(name)
            self.used.add(name)
            return self.values[name]

    _plain = Snakemake.params.fget
    _watched = {}
    _config_read = []

    def _params(self):
        if id(self) not in _watched:
            _watched[id(self)] = Watched(_plain(self))
        return _watched[id(self)]

    def _config(self):
        _config_read.append(True)
        return self.__dict__["config"]

    Snakemake.params = property(_params)
    Snakemake.config = property(_config, lambda self, value: self.__dict__.__setitem__("config", value))

    @atexit.register
    def _write():
        sm = getattr(sys.modules["__main__"], "snakemake", None)
        if sm is None:
            return
        watched = _watched.get(id(sm)) or Watched(_plain(sm))
        params = {}
        for name, value in watched.values.items():
            entry = {"used": name in watched.used, "dict": isinstance(value, Recorder)}
            if entry["dict"]:
                entry["keys"], entry["read"] = sorted(dict.keys(value)), sorted(value.read)
            params[name] = entry
        wildcards = {k: getattr(sm.wildcards, k) for k in sm.wildcards.keys()}
        record = {"rule": sm.rule, "wildcards": wildcards, "params": params, "config": bool(_config_read)}
        with open(os.path.join(_out, f"{os.getpid()}.json"), "w") as f:
            json.dump(record, f)
""".replace("{recorder}", inspect.getsource(Recorder).replace("class Recorder", "class _Recorder"))


def built_once(tmp_path_factory, name, build):
    """A folder that ``build(folder)`` fills once for the whole test session.

    Under pytest-xdist each worker is a process with its own session fixtures;
    this makes them share one build: the first worker to ask builds it under a
    file lock in the workers' common temporary folder, the others wait for it
    and reuse it. Without workers it is a plain temporary folder."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = folder / ".built"
        if not done.exists():  # not yet built, or a worker failed building it
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _finished_run(workdir):
    config = shutil.copy(TEST_CONFIG, workdir / "config.yaml")
    hook, records = workdir / "params-hook", workdir / "params-records"
    hook.mkdir()
    records.mkdir()
    (hook / "sitecustomize.py").write_text(RECORD_HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "STEPDIFF_RECORD_PARAMS": str(records)}
    snakemake(workdir, "--cores", "2", config=config, env=env)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The small test config, run once to completion with 2 cores, every job's
    params recorded as it reads them (``RECORD_HOOK``, into ``params-records``:
    tests/test_jobs.py checks them; the test config sets every key each
    section's schema allows, so that a key read but left out of the params
    cannot hide as unset). One run for the whole session (``built_once``);
    tests read it and copy it, never change it."""
    workdir = built_once(tmp_path_factory, "finished-run", _finished_run)
    return workdir, workdir / "config.yaml"


@pytest.fixture(scope="session")
def finished_report(finished_run, tmp_path_factory):
    """The finished run's report.html, built once for the suite."""
    workdir, config = finished_run

    def build(folder):
        snakemake(workdir, "--report", str(folder / "report.html"), config=config)

    return built_once(tmp_path_factory, "finished-report", build) / "report.html"


@pytest.fixture(scope="session")
def tiny_network(tmp_path_factory):
    """The test config's shared roll network (``networks.tinyroll``), trained
    once for the suite as the workflow trains it (a tiny recipe: 60 steps),
    and saved: (its training task, the model file)."""
    torch = pytest.importorskip("torch")
    from stepdiff import learn
    from stepdiff.jobs.train_network import shared_training

    spec = load_test_config()["networks"]["tinyroll"]
    task = shared_training(spec, "tinyroll")

    def build(folder):
        torch.set_num_threads(1)
        model, _, _ = learn.fit(task, log=lambda *_: None)
        learn.save(model, folder / "denoiser.npz", spec)

    return task, built_once(tmp_path_factory, "tiny-network", build) / "denoiser.npz"


def grid_times(steps, kind="uniform", t_min=1e-4):
    """A grid's times as an array (``grids.times`` returns a list: it is pure Python)."""
    from stepdiff.grids import times

    return np.array(times(steps, kind, t_min))


def _order(item):
    if item.get_closest_marker("slurm"):
        return 0
    if "finished_run" in item.fixturenames:
        return 1
    return 2 if item.get_closest_marker("workflow") else 3


def pytest_collection_modifyitems(items):
    """The longest first: the Slurm test, the finished run's tests, the other
    runs of the workflow, then the rest. ``make test`` runs the files on
    pytest-xdist's workers in this order, one file to a worker at a time, so
    that no long file is left for the end: one worker starts the Slurm run,
    which waits on the cluster most of its two minutes, while another builds
    the finished run (``built_once``) that the Slurm test compares with once
    its run is over. (Random configs before the finished run left the Slurm
    worker to build it after its own run: about a minute longer.)"""
    items.sort(key=_order)
