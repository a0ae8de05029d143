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
from conftest import arrays_in

from stepdiff.config import is_learned

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".test" / "config" / "config.yaml"
# The test config's experiments that run here: one analytic (every job a numpy one), one with a
# network of its own (train) and one with a shared network (train_network). The rest adds jobs,
# not properties: each Slurm job costs seconds of scheduling on a 2-core machine.
EXPERIMENTS = ("gauss", "ring", "roll")
PROFILE = REPO / "profiles" / "slurm"
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def subset_config(path):
    """The test config cut to ``EXPERIMENTS`` and the networks they name, written to ``path``."""
    full = yaml.safe_load(CONFIG.read_text())
    experiments = {name: full["experiments"][name] for name in EXPERIMENTS}
    networks = {e["network"]: full["networks"][e["network"]] for e in experiments.values() if "network" in e}
    path.write_text(yaml.safe_dump({"networks": networks, "experiments": experiments}, sort_keys=False))
    return path


SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "srun")
RUN_TIMEOUT = 900  # seconds; both runs together took about 2 minutes on 2 cores

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


def _run_concurrently(runs, timeout):
    """Run snakemake in each (workdir, args, env) at the same time.

    Returns (output, seconds) per run; fails if one fails or runs out of time.
    """
    procs, logs, seconds = [], [], {}
    start = time.monotonic()
    try:
        for workdir, args, env in runs:
            workdir.mkdir()
            logs.append(workdir.with_suffix(".log"))
            with open(logs[-1], "w") as log:
                procs.append(
                    subprocess.Popen(
                        [*SNAKEMAKE, "--directory", str(workdir), *args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,  # to kill it with its children
                    )
                )
        while len(seconds) < len(procs) and time.monotonic() - start < timeout:
            for i, proc in enumerate(procs):
                if i not in seconds and proc.poll() is not None:
                    seconds[i] = time.monotonic() - start
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                # SIGKILL: snakemake can hang on SIGTERM while its executor is busy
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    results = []
    for i, (proc, log) in enumerate(zip(procs, logs, strict=True)):
        output = log.read_text()
        status = f"exit {proc.returncode}" if i in seconds else f"killed after {timeout} s"
        assert i in seconds and proc.returncode == 0, (
            f"snakemake {' '.join(map(str, proc.args[3:]))} failed ({status}):\n{output[-6000:]}"
        )
        results.append((output, seconds[i]))
    return results


def _files(workdir):
    results = workdir / "results"
    return {p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()}


@pytest.mark.slurm
def test_slurm_run_matches_local_run(slurm_cluster, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    slurm_env = {**env, "SLURM_CONF": str(slurm_cluster)}
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    config = subset_config(tmp_path / "config.yaml")

    # The local run waits for its jobs more than it computes: run both at once.
    slurm_args = [
        "--configfile",
        str(config),
        "--profile",
        str(PROFILE),
        # the plugin's default (40 s between status checks) would dominate the run
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--slurm-keep-successful-logs",
    ]
    (slurm_out, slurm_seconds), (local_out, local_seconds) = _run_concurrently(
        [(slurm_dir, slurm_args, slurm_env), (local_dir, ["--configfile", str(config), "--cores", "2"], env)],
        RUN_TIMEOUT,
    )
    print(f"slurm run {slurm_seconds:.0f} s, local run {local_seconds:.0f} s (at the same time)")

    # Slurm ran every job: one sbatch per job of the local run, each with its
    # Slurm log, and the cluster lists all of them as COMPLETED.
    submitted = SUBMITTED.findall(slurm_out)
    local_jobs = Counter(re.findall(r"^localrule (\w+):$", local_out, re.M))
    slurm_local_jobs = Counter(re.findall(r"^localrule (\w+):$", slurm_out, re.M))
    assert slurm_local_jobs == {"all": 1}, "only the target rule runs outside Slurm"
    slurm_jobs = Counter(
        Path(log).relative_to(slurm_dir / ".snakemake/slurm_logs").parts[0] for _, log in submitted
    )
    assert slurm_jobs == {f"rule_{rule}": n for rule, n in (local_jobs - slurm_local_jobs).items()}
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

    # Same files, and the same numbers.
    files = _files(slurm_dir)
    assert files == _files(local_dir)
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
    for f, key in [(name, key) for name in arrays for key in arrays_in(local_dir / "results" / name)]:
        a, b = arrays_in(slurm_dir / "results" / f)[key], arrays_in(local_dir / "results" / f)[key]
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
