# Functions that turn the config into target lists and wildcard constraints.
import os
import sys

# The workflow imports the library from src/; the scripts find it through the
# link workflow/scripts/stepdiff (Snakemake puts a script's folder on sys.path),
# which works the same in a venv, a conda env or on a cluster node.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from stepdiff import studies
from stepdiff.config import (
    canonical,
    check_config,
    has_noise_floor,
    has_reference,
    is_learned,
    job_params,
    sampler_runs,
    shares_network,
    study_params,
    sweeps,
    final_runs,
    reference_runs,
)
from stepdiff.provenance import fingerprint
from stepdiff.registry import label_pattern

check_config(config)

EXP = config["experiments"]
COMPARISONS = config.get("comparisons", {})
# every study's name -> its config section (``stepdiff.studies.SECTIONS``)
STUDY_SECTION = {
    n: section for section in studies.SECTIONS for n in config.get(section, {})
}
STUDY_MODELS = [
    n for n, section in STUDY_SECTION.items() if "model" in config[section][n]
]
STUDY_ANIMATED = [
    n
    for n, section in STUDY_SECTION.items()
    if hasattr(studies.module(section), "animation")
]
LEARNED = [e for e in EXP if is_learned(EXP[e])]
NETWORKS = config.get("networks", {})
# learned experiments that train a network of their own (the others name a shared one)
OWN_MODEL = [e for e in LEARNED if not shares_network(EXP[e])]
ANALYTIC = [e for e in EXP if e not in LEARNED]
# learned experiments with an exact denoiser: references, and the error figure
REFERENCED = [e for e in EXP if has_reference(EXP[e])]


def alternatives(names):
    # A regex that matches none of the names when the list is empty.
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    experiment=alternatives(EXP),
    sampler=label_pattern(),
    steps=r"[1-9][0-9]*",
    comparison=alternatives(COMPARISONS),
    network=alternatives(NETWORKS),
    study=alternatives(STUDY_SECTION),


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
    ) + sweep_files(
        "results/metrics/{experiment}/reference/{sampler}.csv", e, reference_sweeps(e)
    )


def reference_sweeps(experiment):
    """Each sampler label's step counts run again with the exact denoiser: one
    reference job per label, as one sampling job runs a label's sweep."""
    return sweeps(EXP[experiment], reference_runs(EXP[experiment]))


def reference_steps(wildcards):
    return reference_sweeps(wildcards.experiment)[wildcards.sampler]


def figure_inputs(wildcards):
    e = wildcards.experiment
    inputs = {
        "train": f"results/data/{e}/train.npy",
        "table": f"results/metrics/{e}.csv",  # the exact output laws, where known
        "runs": sweep_files(
            "results/runs/{experiment}/{sampler}.npz", e, final_steps(wildcards)
        ),
    }
    if e in LEARNED:
        inputs["loss"] = f"{model_dir(e)}/loss.csv"
    return inputs


def model_dir(experiment):
    """Where a learned experiment's network lives: its own, or the shared one it names."""
    exp = EXP[experiment]
    if shares_network(exp):
        return f"results/networks/{exp['network']}"
    return f"results/models/{experiment}"


def model_file(wildcards):
    return f"{model_dir(wildcards.experiment)}/denoiser.npz"


def network_settings(wildcards):
    """A shared network's whole section, canonical: its training reads all of it."""
    return canonical(NETWORKS[wildcards.network])


def swept():
    """Experiments with more than one step count for some sampler."""
    return [e for e in EXP if len({steps for _, steps in sampler_runs(EXP[e])}) > 1]


def all_targets():
    targets = []
    for e in EXP:
        targets += [f"results/figures/{e}.jpg", f"results/metrics/{e}.csv"]
        targets += sweep_files(
            "results/reference/{experiment}/{sampler}.npz", e, reference_sweeps(e)
        )
    targets += [f"results/figures/{e}_steps.jpg" for e in swept()]
    targets += [f"results/figures/{e}_error.jpg" for e in REFERENCED]
    targets += [f"results/figures/{c}.jpg" for c in COMPARISONS]
    targets += [f"results/figures/{s}.jpg" for s in STUDY_SECTION]
    targets += [f"results/animations/{s}.gif" for s in STUDY_ANIMATED]
    targets += [f"results/networks/{n}/denoiser.npz" for n in NETWORKS]
    targets += [f"results/report/captions/{name}.rst" for name in ("figure", "study")]
    return targets


def final_steps(wildcards):
    """The figure's runs: each shown label at its largest step count."""
    return dict(final_runs(EXP[wildcards.experiment], uniform_only=True))


def study_spec(name):
    return config[STUDY_SECTION[name]][name]


def study_module(name):
    return studies.module(STUDY_SECTION[name])


def study_settings(job):
    """A params function giving a study's job the keys it reads (the study
    module's KEYS): the same mechanism as ``settings`` for experiments."""

    def params(wildcards):
        s = wildcards.study
        return study_params(STUDY_SECTION[s], job, study_spec(s), config)

    return params


def study_section(wildcards):
    return STUDY_SECTION[wildcards.study]


def study_data(wildcards):
    """The study's data sets, where its module draws them (``DATA``)."""
    s = wildcards.study
    return {split: f"results/studies/{s}/{split}.npy" for split in study_module(s).DATA}


def study_shared(wildcards, hook):
    """The shared networks a study's module names through ``hook`` (its
    ``shared_networks`` for its runs, ``teachers`` for its training)."""
    names = getattr(study_module(wildcards.study), hook, None)
    spec = study_spec(wildcards.study)
    return {
        f"network_{n}": f"results/networks/{n}/denoiser.npz"
        for n in (names(spec) if names else [])
    }


def study_train_inputs(wildcards):
    """The study's data sets, and the shared networks its training reads (its
    module's ``teachers``: a distillation's teacher)."""
    return {**study_data(wildcards), **study_shared(wildcards, "teachers")}


def study_run_inputs(wildcards):
    """The study's data sets, with a model section its networks, and the
    shared networks it names (its module's ``shared_networks``)."""
    inputs = study_data(wildcards)
    if wildcards.study in STUDY_MODELS:
        inputs["models"] = f"results/studies/{wildcards.study}/models"
    return {**inputs, **study_shared(wildcards, "shared_networks")}


def study_experiments(wildcards):
    """The experiments whose tables the study's figure reads (in its order)."""
    return study_module(wildcards.study).figure_experiments(study_spec(wildcards.study))


def study_figure_inputs(wildcards):
    s = wildcards.study
    return {
        "table": f"results/studies/{s}/table.csv",
        "arrays": f"results/studies/{s}/arrays.npz",
        "experiments": [
            f"results/metrics/{e}.csv" for e in study_experiments(wildcards)
        ],
        **study_data(wildcards),
    }


def study_caption(wildcards):
    """The report's caption of a study's figure: its module's ``CAPTION``."""
    return study_module(wildcards.study).CAPTION.replace("{study}", wildcards.study)


def comparison_tables(wildcards):
    return [
        f"results/metrics/{e}.csv"
        for e in COMPARISONS[wildcards.comparison]["experiments"]
    ]


def comparison_spec(wildcards):
    return canonical(COMPARISONS[wildcards.comparison])


def settings(job):
    """A params function giving a job only what it reads of its experiment
    (its job module's KEYS, stepdiff.jobs), so that editing one setting (say a sampler's
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
    one reruns exactly the jobs whose code reaches it. A params function, so
    that it is computed when a job's params are, not when the Snakefile is
    read: each job's own Snakemake process then parses its own rule's modules
    only (reading every rule's took a second per job)."""
    path = script_file(script)

    def params(wildcards):
        return fingerprint(path)

    return params


def script_file(script):
    return os.path.join(workflow.basedir, "workflow", "scripts", script)


def study_fingerprint(script, section, function):
    """The fingerprint of a script that loads the study module of ``section``
    by name and runs its ``function``: the script's own imports, the module,
    and what that function reaches."""
    stem = studies.SECTIONS[section]
    path = os.path.join(workflow.basedir, "src", "stepdiff", "studies", f"{stem}.py")
    return fingerprint(script_file(script), path, function)


def study_code(script, function):
    """``code`` of a study job's script, of the study module it loads by name
    and of what that module's ``function`` runs: editing one study reruns its
    jobs alone, and editing a sampler does not retrain a study's networks."""

    def params(wildcards):
        return study_fingerprint(script, STUDY_SECTION[wildcards.study], function)

    return params


def report_caption(name):
    """The report's caption ``name`` of a figure: the ``captions`` job's file
    (the template with each figure's table) once it exists, else the template
    of workflow/report/ alone, so that a report of a partial run still renders.
    Absolute: the job writes it in the working directory, not beside the rules."""
    made = os.path.abspath(f"results/report/captions/{name}")
    return made if os.path.exists(made) else f"../report/{name}"


def caption_templates(wildcards):
    """The caption templates that the ``captions`` job fills in, by name."""
    folder = os.path.join(workflow.basedir, "workflow", "report")
    return {
        name: open(os.path.join(folder, f"{name}.rst")).read()
        for name in ("figure", "study")
    }


def tabled_studies(wildcards):
    """The studies whose module prints result tables (``result_table``), as
    (study, section) pairs in name order."""
    return [
        [s, STUDY_SECTION[s]]
        for s in sorted(STUDY_SECTION)
        if hasattr(study_module(s), "result_table")
    ]


def caption_inputs(wildcards):
    """The tables the captions carry: every experiment's and the tabled studies'."""
    return {
        "experiments": [f"results/metrics/{e}.csv" for e in sorted(EXP)],
        "studies": [
            f"results/studies/{s}/table.csv" for s, _ in tabled_studies(wildcards)
        ],
    }


def tables_code(script, function):
    """``code`` of a script that runs every tabled study's ``function``: its
    own, and each study module's (``study_code`` for one study)."""

    def params(wildcards):
        sections = sorted({section for _, section in tabled_studies(wildcards)})
        return [
            study_fingerprint(script, section, function) for section in sections
        ] or fingerprint(script_file(script))

    return params
