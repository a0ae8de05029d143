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

import pytest
from conftest import REPO, SNAKEMAKE, arrays_in, load_test_config, planned_jobs, snakemake, write_config

from stepdiff import network
from stepdiff.config import final_runs, sweeps

pytest.importorskip("torch")  # the runs train a model

pytestmark = pytest.mark.workflow

PROFILE_NOTE = "workflow specific profile"  # snakemake's line naming the profile it read
MODEL = "results/models/roll/denoiser.npz"


def only(*names):
    """The test config restricted to some experiments (their settings unchanged)."""
    experiments = load_test_config()["experiments"]
    return {"experiments": {name: experiments[name] for name in names}}  # no comparisons


def assert_same_arrays(run, reference):
    """Every array (.npy, and each entry of a sweep's .npz; models aside) under
    ``run``/results is bit-identical to its namesake under ``reference``;
    returns how many files were compared."""
    files = sorted(
        f for f in (run / "results").rglob("*.np[yz]") if "models" not in f.parts
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


def _interrupt_while_training(cmd, out, sig):
    """Start ``cmd`` in its own process group, send ``sig`` to the group (what
    Ctrl-C does for SIGINT) while the train job runs, wait for the exit."""
    with open(out, "w") as stream:
        run = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            # Snakemake prints a job as it starts it; the train job then spends over
            # a second importing torch before its 60 steps, which take 50 ms (so
            # waiting for results/logs/train/roll.log would mostly come too late).
            while "rule train:" not in out.read_text():
                assert run.poll() is None, out.read_text()
                assert time.monotonic() < deadline, "the train job did not start"
                time.sleep(0.05)
            time.sleep(0.2)  # its outputs are marked as started (in .snakemake) within milliseconds
            os.killpg(run.pid, sig)
            run.wait(timeout=120)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
    return run.returncode


def roll_arrays():
    """The roll experiment alone, and its arrays as targets: data, model,
    samples and trajectories of every run, references (no metrics or figures)."""
    config = only("roll")
    exp = config["experiments"]["roll"]
    targets = [f"results/runs/roll/{label}.npz" for label in sweeps(exp)]
    targets += [f"results/reference/roll/{label}-{n}.npy" for label, n in final_runs(exp)]
    # train and test data, each sampler's sweep (samples and trajectories), the references
    return config, targets, 2 + len(sweeps(exp)) + len(final_runs(exp))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_run_finishes_with_the_same_command(finished_run, tmp_path, sig):
    """Interrupt a run while its model trains, run the same command again (no
    --rerun-incomplete: the profile has it): it finishes, with the arrays and
    weights of the uninterrupted run."""
    workdir, _ = finished_run
    config, targets, n_arrays = roll_arrays()
    # the targets first: --configfile takes several files
    cmd = [*SNAKEMAKE, *targets, "-s", REPO / "Snakefile", "--directory", tmp_path]
    cmd += ["--configfile", write_config(tmp_path / "c.yaml", config)]
    returncode = _interrupt_while_training(cmd, tmp_path / "interrupted.txt", sig)
    assert returncode != 0, (tmp_path / "interrupted.txt").read_text()
    assert not (tmp_path / MODEL).exists()  # it stopped the train job
    # What an interruption between train.py's two writes leaves: the loss table
    # of a job that never finished, complete-looking.
    loss = tmp_path / "results/models/roll/loss.csv"
    loss.parent.mkdir(parents=True, exist_ok=True)
    loss.write_text("step,loss\n1,2.")
    if sig == signal.SIGINT:  # snakemake marks the job's outputs incomplete and leaves them to the next run
        bare = [*cmd, "--workflow-profile", "none", "--cores", "2", "-n"]
        proc = subprocess.run(bare, capture_output=True, text=True)
        assert proc.returncode != 0 and "IncompleteFilesException" in proc.stdout + proc.stderr
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert PROFILE_NOTE in again.stderr
    assert assert_same_arrays(tmp_path, workdir) == n_arrays
    assert_same_model(tmp_path, workdir)
    assert loss.read_bytes() == (workdir / "results/models/roll/loss.csv").read_bytes()


def test_results_do_not_depend_on_the_number_of_cores(finished_run, tmp_path):
    """The learned experiment's arrays, made one job at a time, equal those of
    the 2-core run bit for bit (the analytic jobs are one numpy process each)."""
    workdir, _ = finished_run
    config, targets, n_arrays = roll_arrays()
    snakemake(tmp_path, *targets, "--configfile", write_config(tmp_path / "c.yaml", config), "--cores", "1")
    assert assert_same_arrays(tmp_path, workdir) == n_arrays
    assert_same_model(tmp_path, workdir)


ROLL_CHAIN = {"train", "sample_learned", "sample_reference", "metrics_table", "figure", "steps_figure"}
ROLL_CHAIN |= {"comparison_figure", "start_figure", "all"}


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
    labels = sweeps(load_test_config()["experiments"]["roll"])
    assert planned["train"] == 1 and planned["sample_learned"] == len(labels), planned
    assert set(planned) <= ROLL_CHAIN, planned
