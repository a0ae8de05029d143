"""The card's commands as typed, runs that survive an interruption, and
results that do not depend on how the run went.

Every run here reads profiles/default/config.yaml (cores, rerun-incomplete,
show-failed-logs), which Snakemake finds next to the Snakefile. Results are
compared bit for bit with the session's ``finished_run`` (the test config,
uninterrupted, ``--cores 2``): each job's randomness derives from the config
seed and its wildcards only, so neither the other experiments in the config,
nor the number of cores, nor an interruption may change a single bit.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, SNAKEMAKE, arrays_in, load_test_config, planned_jobs, snakemake, write_config

from stepdiff import network
from stepdiff.config import final_runs, sweeps

pytest.importorskip("torch")  # the runs train a model

pytestmark = pytest.mark.workflow

PROFILE_NOTE = "workflow specific profile"  # snakemake's line naming the profile it read
MODEL = "results/networks/tinyroll/denoiser.npz"  # roll's network, shared with rollflow


def only(*names):
    """The test config restricted to some experiments (their settings unchanged)
    and the shared networks they name."""
    full = load_test_config()
    experiments = {name: full["experiments"][name] for name in names}
    networks = {e["network"]: full["networks"][e["network"]] for e in experiments.values() if "network" in e}
    return {"networks": networks, "experiments": experiments} if networks else {"experiments": experiments}


def assert_same_arrays(run, reference):
    """Every array (.npy, and each entry of a sweep's .npz; networks aside) under
    ``run``/results is bit-identical to its namesake under ``reference``;
    returns how many files were compared."""
    files = sorted(
        f for f in (run / "results").rglob("*.np[yz]") if not {"models", "networks"} & set(f.parts)
    )  # assert_same_model
    for path in files:
        name = path.relative_to(run)
        ours, theirs = arrays_in(path), arrays_in(reference / name)
        assert ours.keys() == theirs.keys(), name
        for key, a in ours.items():
            b = theirs[key]
            assert (a.dtype, a.shape) == (b.dtype, b.shape), (name, key)
            assert a.tobytes() == b.tobytes(), f"{name} {key} differs from the uninterrupted run"
    return len(files)


def assert_same_model(run, reference):
    a, b = (network.read(d / MODEL) for d in (run, reference))
    assert a.arch == b.arch and a.state.keys() == b.state.keys()
    for key, weights in a.state.items():
        assert weights.tobytes() == b.state[key].tobytes(), key


def test_the_card_commands_need_no_cores_flag(tmp_path):
    """`snakemake results/figures/<experiment>.jpg`, no flags: the default
    profile supplies --cores. It is found next to the Snakefile from any
    folder, and in the current folder when run from the repository root."""
    target, config = "results/figures/point.jpg", write_config(tmp_path / "c.yaml", load_test_config())
    typed = (target, "--configfile", config)  # the target first: --configfile takes several files
    bare = snakemake(tmp_path, *typed, "--workflow-profile", "none", check=False, cwd=tmp_path)
    assert bare.returncode != 0 and "cores have to be specified" in bare.stderr, bare.stderr
    proc = snakemake(tmp_path, *typed, cwd=tmp_path)
    assert f"{PROFILE_NOTE} {REPO / 'profiles' / 'default'} " in proc.stderr, proc.stderr
    assert (tmp_path / target).read_bytes()[:3] == b"\xff\xd8\xff"
    # As the card types it, from the repository root and without -s (a dry run: nothing is written there).
    dry = [*SNAKEMAKE, target, "--directory", tmp_path, "--configfile", config, "-n"]
    proc = subprocess.run(dry, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and f"{PROFILE_NOTE} profiles/default " in proc.stderr, proc.stderr


# Loaded by every Python process of an interrupted run (through PYTHONPATH):
# in the train job alone, the first message it logs (training's first step)
# waits while the gate file exists (the first alone: after a Ctrl-C the job
# still logs its CPU time as it exits), after marking the job as held. The signal
# then lands mid-training by construction, however loaded the machine; the
# gate is opened only once that run is over, so a held job never trains on.
GATE_HOOK = """\
import logging, os, sys

_gate = os.environ.get("STEPDIFF_TEST_GATE")
if _gate and sys.argv[0].endswith((".train.py", ".train_network.py")):  # a training job's script

    _held = []

    def _hold(record):
        if os.path.exists(_gate) and not _held:  # the first message alone (not the exit's CPU line)
            _held.append(True)
            import time

            open(_gate + ".held", "w").close()
            while os.path.exists(_gate):
                time.sleep(0.02)  # SIGINT raises KeyboardInterrupt here, SIGTERM ends the process
            os._exit(1)
        return True

    logging.getLogger("stepdiff").addFilter(_hold)
"""


def gated_env(folder):
    """An environment whose train job waits in its first step while ``folder``/gate exists."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(GATE_HOOK)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "STEPDIFF_TEST_GATE": str(folder / "gate")}


def _interrupt_while_training(cmd, out, sig, env):
    """Start ``cmd`` in its own process group with the gate closed, wait until
    its train job is held in training, send ``sig`` to the group (what Ctrl-C
    does for SIGINT), wait for the exit, open the gate."""
    gate = Path(env["STEPDIFF_TEST_GATE"])
    held = Path(f"{gate}.held")
    gate.touch()
    with open(out, "w") as stream:
        run = subprocess.Popen(
            cmd,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            # a run started in the background of a non-interactive shell (nohup ... &)
            # inherits SIGINT ignored, and a Ctrl-C would then never reach snakemake
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 300
            while not held.exists():
                assert run.poll() is None, out.read_text()
                assert time.monotonic() < deadline, "the train job never logged its first step"
                time.sleep(0.05)
            os.killpg(run.pid, sig)
            run.wait(timeout=120)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
            gate.unlink()
    return run.returncode


def roll_arrays():
    """The roll experiment alone, and its arrays as targets: data, model,
    samples and trajectories of every run, references (no metrics or figures)."""
    config = only("roll")
    exp = config["experiments"]["roll"]
    targets = [f"results/runs/roll/{label}.npz" for label in sweeps(exp)]
    targets += [f"results/reference/roll/{label}.npz" for label, _ in final_runs(exp)]  # one per label
    # train and test data, each sampler's sweep (samples and trajectories), the references
    return config, targets, 2 + len(sweeps(exp)) + len(final_runs(exp))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_run_finishes_with_the_same_command(finished_run, tmp_path, sig):
    """Interrupt a run while its model trains, run the same command again (no
    --rerun-incomplete: the profile has it): it finishes, with the arrays and
    weights of the uninterrupted run. The train job waits in its first step
    until the run it belongs to is over (``GATE_HOOK``), so the signal always
    lands in training, not before it or after it."""
    workdir, _ = finished_run
    config, targets, n_arrays = roll_arrays()
    # the targets first: --configfile takes several files
    cmd = [*SNAKEMAKE, *targets, "-s", REPO / "Snakefile", "--directory", tmp_path]
    cmd += ["--configfile", write_config(tmp_path / "c.yaml", config)]
    env = gated_env(tmp_path / "hook")
    returncode = _interrupt_while_training(cmd, tmp_path / "interrupted.txt", sig, env)
    assert returncode != 0, (tmp_path / "interrupted.txt").read_text()
    assert not (tmp_path / MODEL).exists()  # it stopped the train job
    # What an interruption between train.py's two writes leaves: the loss table
    # of a job that never finished, complete-looking.
    loss = tmp_path / "results/networks/tinyroll/loss.csv"
    loss.parent.mkdir(parents=True, exist_ok=True)
    loss.write_text("step,loss\n1,2.")
    if sig == signal.SIGINT:  # snakemake marks the job's outputs incomplete and leaves them to the next run
        bare = [*cmd, "--workflow-profile", "none", "--cores", "2", "-n"]
        proc = subprocess.run(bare, capture_output=True, text=True, env=env)
        assert proc.returncode != 0 and "IncompleteFilesException" in proc.stdout + proc.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)  # the gate is open
    assert again.returncode == 0, again.stdout + again.stderr
    assert PROFILE_NOTE in again.stderr
    assert assert_same_arrays(tmp_path, workdir) == n_arrays
    assert_same_model(tmp_path, workdir)
    assert loss.read_bytes() == (workdir / "results/networks/tinyroll/loss.csv").read_bytes()


def test_results_do_not_depend_on_the_number_of_cores(finished_run, tmp_path):
    """The learned experiment's arrays, made one job at a time in a fresh
    folder (its network retrained from scratch), equal those of the 2-core run
    bit for bit, weights included: the same config gives the same results
    (the analytic jobs are one numpy process each)."""
    workdir, _ = finished_run
    config, targets, n_arrays = roll_arrays()
    snakemake(tmp_path, *targets, "--configfile", write_config(tmp_path / "c.yaml", config), "--cores", "1")
    assert assert_same_arrays(tmp_path, workdir) == n_arrays
    assert_same_model(tmp_path, workdir)


ROLL_CHAIN = {
    "train_network",
    "sample_learned",
    "sample_reference",
    "metrics_table",
    "figure",
    "steps_figure",
}
ROLL_CHAIN |= {"comparison_figure", "study_figure", "network_error", "error_figure", "all"}
# the studies that sample the shared network or learn its map; the report's caption tables
ROLL_CHAIN |= {"study_train", "study_run", "captions"}


def test_a_damaged_model_names_the_command_that_rebuilds_it(finished_run, tmp_path):
    """A truncated model file: the sampling job fails and the terminal shows
    the file and a command; that command plans the model again and everything
    made from it, and nothing else. (Run for real, it rebuilds the same model.)"""
    workdir, config = finished_run
    work = tmp_path / "work"
    shutil.copytree(workdir, work, symlinks=True)
    blob = (work / MODEL).read_bytes()
    (work / MODEL).write_bytes(blob[: len(blob) // 2])
    # the target first: --configfile and --forcerun take several values
    target = "results/runs/roll/ddim.npz"
    failed = snakemake(work, target, "--configfile", config, "--forcerun", "sample_learned", check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr  # with the job's log, shown by show-failed-logs
    problem = rf"{re.escape(MODEL)}: not a readable model file"
    match = re.search(rf"{problem}.*?with: snakemake (--forcerun \S+)", output)
    assert match, output
    planned = planned_jobs(snakemake(work, *match.group(1).split(), "-n", config=config))
    users = [e for e in load_test_config()["experiments"].values() if e.get("network") == "tinyroll"]
    labels = sum(len(sweeps(e)) for e in users)  # the network's users: roll and rollflow
    assert planned["train_network"] == 1 and planned["sample_learned"] == labels, planned
    assert set(planned) <= ROLL_CHAIN, planned
