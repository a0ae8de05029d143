# Functions that turn the config into target lists and wildcard constraints.
import os
import sys

# The workflow imports the library from src/; the scripts find it through the
# link workflow/scripts/stepdiff (Snakemake puts a script's folder on sys.path),
# which works the same in a venv, a conda env or on a cluster node.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from stepdiff.config import (
    canonical,
    check_config,
    has_noise_floor,
    is_learned,
    job_params,
    sampler_runs,
    start_networks,
    sweeps,
    final_runs,
    reference_runs,
)
from stepdiff.provenance import fingerprint
from stepdiff.registry import label_pattern

check_config(config)

EXP = config["experiments"]
COMPARISONS = config.get("comparisons", {})
STARTS = config.get("starts", {})
MEMO = config.get("memorisation", {})
LEARNED = [e for e in EXP if is_learned(EXP[e])]
ANALYTIC = [e for e in EXP if e not in LEARNED]


def alternatives(names):
    # A regex that matches none of the names when the list is empty.
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    experiment=alternatives(EXP),
    sampler=label_pattern(),
    steps=r"[1-9][0-9]*",
    comparison=alternatives(COMPARISONS),
    study=alternatives([*STARTS, *MEMO]),


def run_files(pattern, experiment, runs=None):
    runs = sampler_runs(EXP[experiment]) if runs is None else runs
    return [
        pattern.format(experiment=experiment, sampler=label, steps=steps)
        for label, steps in runs
    ]


def table_inputs(wildcards):
    """The runs' metrics, and the noise floor where the experiment has one."""
    e = wildcards.experiment
    inputs = {"runs": evaluation_files(wildcards)}
    if has_noise_floor(EXP[e]):
        inputs["floor"] = f"results/metrics/{e}/noise_floor.csv"
    return inputs


def sweep_files(pattern, experiment, labels=None):
    """One file per sampler label (a sampling job runs the label's sweep)."""
    labels = sweeps(EXP[experiment]) if labels is None else labels
    return [pattern.format(experiment=experiment, sampler=label) for label in labels]


def sweep_steps(wildcards):
    """The step counts of one sampling job's sweep."""
    return sweeps(EXP[wildcards.experiment])[wildcards.sampler]


def evaluation_files(wildcards):
    e = wildcards.experiment
    return sweep_files(
        "results/metrics/{experiment}/samples/{sampler}.csv", e
    ) + run_files(
        "results/metrics/{experiment}/reference/{sampler}-{steps}.csv",
        e,
        reference_runs(EXP[e]),
    )


def figure_inputs(wildcards):
    e = wildcards.experiment
    inputs = {
        "train": f"results/data/{e}/train.npy",
        "runs": sweep_files(
            "results/runs/{experiment}/{sampler}.npz", e, final_steps(wildcards)
        ),
    }
    if e in LEARNED:
        inputs["loss"] = f"results/models/{e}/loss.csv"
    return inputs


def swept():
    """Experiments with more than one step count for some sampler."""
    return [e for e in EXP if len({steps for _, steps in sampler_runs(EXP[e])}) > 1]


def all_targets():
    targets = []
    for e in EXP:
        targets += [f"results/figures/{e}.jpg", f"results/metrics/{e}.csv"]
        targets += run_files(
            "results/reference/{experiment}/{sampler}-{steps}.npy",
            e,
            reference_runs(EXP[e]),
        )
    targets += [f"results/figures/{e}_steps.jpg" for e in swept()]
    targets += [f"results/figures/{c}.jpg" for c in COMPARISONS]
    targets += [f"results/figures/{s}.jpg" for s in STARTS]
    targets += [f"results/figures/{s}.jpg" for s in MEMO]
    return targets


def final_steps(wildcards):
    """The figure's runs: each shown label at its largest step count."""
    return dict(final_runs(EXP[wildcards.experiment], uniform_only=True))


def memo_spec(wildcards):
    return canonical(MEMO[wildcards.study])


def memo_settings(job):
    """A memorisation study's params for a job it shares with experiments
    (make_data, train): the same keys (``JOB_KEYS``), read from the study."""

    def params(wildcards):
        return job_params(job, MEMO[wildcards.study])

    return params


def start_part(*keys):
    """A params function giving a start study's job only the keys it reads,
    so that editing another (say the `learned` list, the figure's alone)
    retrains and reruns nothing."""

    def params(wildcards):
        spec = STARTS[wildcards.study]
        return canonical({k: spec[k] for k in keys if k in spec})

    return params


def start_models(wildcards):
    """The study's own networks, where it has a model section."""
    if "model" in STARTS[wildcards.study]:
        return {"models": f"results/models/{wildcards.study}"}
    return {}


def start_learned(wildcards):
    """The metrics tables of the study's learned experiments (in its order)."""
    return [
        f"results/metrics/{e}.csv" for e in STARTS[wildcards.study].get("learned", [])
    ]


def start_sigmas(wildcards):
    """The sigmas of the study's learned experiments (in its order)."""
    return [EXP[e]["sigma"] for e in STARTS[wildcards.study].get("learned", [])]


def comparison_tables(wildcards):
    return [
        f"results/metrics/{e}.csv"
        for e in COMPARISONS[wildcards.comparison]["experiments"]
    ]


def comparison_spec(wildcards):
    return canonical(COMPARISONS[wildcards.comparison])


def settings(job):
    """A params function giving a job only what it reads of its experiment
    (stepdiff.config.JOB_KEYS), so that editing one setting (say a sampler's
    steps) reruns only what it affects; key order in the YAML never matters."""

    def params(wildcards):
        return job_params(job, EXP[wildcards.experiment])

    return params


def torch_threads(wildcards, threads):
    """A training job's thread count, as a param: torch's sums run in another
    order on another count, so the weights change with it (a training job
    reruns when --set-threads changes it)."""
    return threads


def code(script):
    """A fingerprint of the library modules a rule's script imports: editing
    one reruns exactly the jobs whose code reaches it."""
    return fingerprint(os.path.join(workflow.basedir, "workflow", "scripts", script))
