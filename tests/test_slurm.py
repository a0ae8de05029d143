"""The workflow on a real (single-node, throw-away) Slurm cluster, through the
profile in profiles/slurm, gives the same results as a local run.

Needs slurm-wlm (slurmctld, slurmd and the client commands) and root, or
passwordless sudo, to start the cluster (tests/slurm/cluster.sh). Skipped
where those are missing, except on CI (CI=true), where it must run.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import arrays_in, planned_jobs, snakemake

from stepdiff.config import is_learned

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".test" / "config" / "config.yaml"
# The test config's experiments that run here: one analytic (every job a numpy one) and one
# that samples a shared network (train_network: torch), each with the one sampler entry named
# here; roll keeps its step sweep (a steps figure), gauss runs its first step count. The rest
# adds jobs, not properties: each Slurm job costs seconds on a 2-core machine (two Snakemake
# processes of its own read the workflow). An experiment with a network of its own (`train`,
# the same resources and script shape as `train_network`) added six jobs, 22 in all.
EXPERIMENTS = {"gauss": "ddim", "roll": "ddim"}
SWEEP = "roll"
PROFILE = REPO / "profiles" / "slurm"
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def subset_config(path):
    """The test config cut to ``EXPERIMENTS``, their sampler entries and the
    networks they name, written to ``path``."""
    full = yaml.safe_load(CONFIG.read_text())
    experiments = {name: full["experiments"][name] for name in EXPERIMENTS}
    for name, exp in experiments.items():
        exp["samplers"] = [
            s for s in exp["samplers"] if s.keys() == {"name", "steps"} and s["name"] == EXPERIMENTS[name]
        ]
        assert len(exp["samplers"]) == 1, (name, exp["samplers"])
        if name != SWEEP:  # each step count draws from its own seeds: the sweep's first run
            exp["samplers"][0]["steps"] = exp["samplers"][0]["steps"][0]
    networks = {e["network"]: full["networks"][e["network"]] for e in experiments.values() if "network" in e}
    path.write_text(yaml.safe_dump({"networks": networks, "experiments": experiments}, sort_keys=False))
    return path


SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "srun")
RUN_TIMEOUT = 900  # seconds; the run took about 2 minutes on 2 cores

SUBMITTED = re.compile(r"^Job \d+ has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", re.M)


def _which(name):
    # The daemons live in /usr/sbin, which is not on every user's PATH.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def _skip_or_fail(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Slurm test must run on CI)")
    pytest.skip(reason)


def _cluster_command():
    """How to run cluster.sh: directly as root, else through passwordless sudo."""
    if os.geteuid() == 0:
        return ["bash", str(CLUSTER_SH)]
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n", "bash", str(CLUSTER_SH)]
    return None


def _running(pid):
    """Whether process pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster; yields the path of its slurm.conf."""
    missing = [b for b in SLURM_BINARIES if _which(b) is None]
    if missing:
        _skip_or_fail(f"Slurm is not installed (missing: {', '.join(missing)}; apt-get install slurm-wlm)")
    command = _cluster_command()
    if command is None:
        _skip_or_fail("starting a Slurm cluster needs root or passwordless sudo")
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/local/sbin:/usr/sbin:/sbin"}
    cluster = tmp_path_factory.mktemp("slurm")
    daemons = {}
    try:
        start = subprocess.run(
            [*command, "start", str(cluster)], capture_output=True, text=True, env=env, timeout=180
        )
        if start.returncode != 0:
            pytest.fail(f"could not start the Slurm cluster:\n{start.stdout}\n{start.stderr}")
        for name in ("slurmctld", "slurmd"):
            daemons[name] = int((cluster / f"{name}.pid").read_text())
        yield cluster / "slurm.conf"
    finally:
        stop = subprocess.run(
            [*command, "stop", str(cluster)], capture_output=True, text=True, env=env, timeout=120
        )
        assert stop.returncode == 0, f"could not stop the Slurm cluster:\n{stop.stdout}\n{stop.stderr}"
        alive = [f"{name} ({pid})" for name, pid in daemons.items() if _running(pid)]
        assert not alive, f"still running after stop: {', '.join(alive)}"


def _run(workdir, args, env, timeout):
    """Run snakemake in ``workdir``; returns (output, seconds), fails if it
    fails or runs out of time (killed with its children: snakemake can hang
    on SIGTERM while its executor is busy)."""
    workdir.mkdir()
    log = workdir.with_suffix(".log")
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*SNAKEMAKE, "--directory", str(workdir), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output, seconds = log.read_text(), time.monotonic() - start
    status = f"exit {proc.returncode}" if seconds < timeout else f"killed after {timeout} s"
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed ({status}):\n{output[-6000:]}"
    return output, seconds


def _files(workdir):
    results = workdir / "results"
    return {p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()}


def _subset(files, names):
    """The files of ``_files`` that belong to the experiments and networks
    ``names``: under a folder of that name (``logs/sample/roll/ddim.log``), or
    named after it (``figures/roll_steps.jpg``)."""
    return {f for f in files if {*Path(f).parts[:-1], Path(f).stem.split("_")[0]} & set(names)}


@pytest.mark.slurm
def test_slurm_run_matches_local_run(slurm_cluster, request, tmp_path):
    """The local run is the suite's own run of the whole test config
    (``finished_run``): an experiment's results depend on its own section
    only, so the Slurm run of two of them must reproduce its files for them.
    (The local run is asked for once the Slurm run is over: under pytest-xdist
    another worker builds it meanwhile, while this one waits on the cluster.)"""
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    slurm_env = {**env, "SLURM_CONF": str(slurm_cluster)}
    slurm_dir = tmp_path / "slurm"
    config = subset_config(tmp_path / "config.yaml")
    slurm_args = [
        "--configfile",
        str(config),
        "--profile",
        str(PROFILE),
        # The plugin checks the jobs' status this long after a check that saw
        # one finish, and 10 s longer after each that saw none; its default, 40 s,
        # would dominate the run. A job here takes a few seconds: at 1 s the second
        # check came 11 s later; at 5 s most checks see one finish.
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--slurm-keep-successful-logs",
    ]
    planned = planned_jobs(snakemake(tmp_path / "planned", "-n", "--cores", "2", config=config))
    slurm_out, slurm_seconds = _run(slurm_dir, slurm_args, slurm_env, RUN_TIMEOUT)
    print(f"slurm run {slurm_seconds:.0f} s")
    local_dir, _ = request.getfixturevalue("finished_run")

    # Slurm ran every job: one sbatch per job a local run plans, each with its
    # Slurm log, and the cluster lists all of them as COMPLETED.
    submitted = SUBMITTED.findall(slurm_out)
    slurm_local_jobs = Counter(re.findall(r"^localrule (\w+):$", slurm_out, re.M))
    assert slurm_local_jobs == {"all": 1}, "only the target rule runs outside Slurm"
    slurm_jobs = Counter(
        Path(log).relative_to(slurm_dir / ".snakemake/slurm_logs").parts[0] for _, log in submitted
    )
    assert slurm_jobs == {f"rule_{rule}": n for rule, n in planned.items() if rule != "all"}
    test_config = yaml.safe_load(config.read_text())
    experiments = test_config["experiments"]
    learned = {name for name, exp in experiments.items() if is_learned(exp)}
    own = {name for name in learned if "network" not in experiments[name]}
    assert slurm_jobs["rule_train"] == len(own) and slurm_jobs["rule_sample_learned"] > 0
    assert slurm_jobs["rule_train_network"] == len(test_config["networks"])  # each trained once
    for _, log in submitted:
        assert Path(log).stat().st_size > 0, log
    run_id = re.search(r"^SLURM run ID: (\S+)$", slurm_out, re.M).group(1)
    squeue = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--name", run_id, "--format=%i|%T"],
        capture_output=True,
        text=True,
        env=slurm_env,
        check=True,
    ).stdout
    states = dict(line.split("|") for line in squeue.split())
    assert states == {job_id: "COMPLETED" for job_id, _ in submitted}

    # Every file one the local run made for these experiments (the report's captions
    # list every experiment of a config: not theirs alone), with the same numbers.
    files = {f for f in _files(slurm_dir) if "captions" not in f}
    assert files <= _subset(_files(local_dir), {*experiments, *test_config["networks"]})
    for pattern in (
        "runs/*/*.npz",
        "data/*/*.npy",
        "metrics/*.csv",
        "figures/*.jpg",
    ):
        assert any(Path(f).match(pattern) for f in files), pattern
    assert learned, "the test config should train a model"
    arrays = [
        f
        for f in sorted(files)
        if f.endswith((".npy", ".npz")) and f.split("/")[0] in ("runs", "data", "reference")
    ]
    assert any(f.split("/")[:2] == ["runs", name] for f in arrays for name in learned)
    for f in arrays:  # each file read once a side (a sweep's .npz holds a run per key)
        ours, theirs = arrays_in(slurm_dir / "results" / f), arrays_in(local_dir / "results" / f)
        for key, a in ours.items():
            b = theirs[key]
            # Exact also for the learned experiments' samples (torch): both runs
            # give torch the same number of threads (the rules' threads, which
            # --cores 2 and the Slurm jobs' CPUs both grant), and the results came
            # out bit-identical in every run so far. Should a torch update break
            # that, float32 rounding is the tolerance to allow (rtol=1e-5), no more.
            assert a.dtype == b.dtype and a.shape == b.shape, (f, key)
            learned_run = f.split("/")[1] in learned
            assert np.array_equal(a, b), (
                f"{f} {key}{' (learned denoiser)' if learned_run else ''} differs between the Slurm and the "
                f"local run: max |diff| = {np.max(np.abs(a - b))}"
            )
