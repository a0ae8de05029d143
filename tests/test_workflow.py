"""The real workflow on a small config: outputs, laziness, failures."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEMAKE, load_test_config, planned_jobs, snakemake, write_config

from stepdiff import provenance, studies
from stepdiff.config import sampler_runs
from stepdiff.io import load_run

pytestmark = pytest.mark.workflow


def test_outputs_follow_the_contract(finished_run):
    workdir, _ = finished_run
    config = load_test_config()
    res = workdir / "results"
    dims = {"gauss": 1, "point": 1, "pair": 2, "roll": 2, "rollflow": 2, "flow": 2, "ring": 2}
    for name, exp in config["experiments"].items():
        for label, steps in sampler_runs(exp):
            x, record = load_run(res / f"runs/{name}/{label}.npz", steps)
            assert x.dtype == np.float64 and x.shape == (exp["n_samples"], dims[name])
            k, cloud = min(exp.get("n_trajectories", 50), exp["n_samples"]), min(2000, exp["n_samples"])
            rows = record.rows  # saved times: every grid index of these short runs, t = 1 to t = 0
            assert rows.tolist() == list(range(steps + 1))
            assert record.paths.shape == (len(rows), k, dims[name])
            assert record.cloud.shape == (len(rows), cloud, dims[name])
            np.testing.assert_array_equal(record.cloud[-1], x[:cloud])  # last row: the final samples
        assert (res / f"animations/{name}.gif").read_bytes()[:6] == b"GIF89a"
        figure = res / f"figures/{name}.jpg"
        assert figure.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
        table = pd.read_csv(res / f"metrics/{name}.csv")
        assert {"experiment", "sampler", "grid", "steps", "metric", "value", "noise_floor"} <= set(table)
    for name in (
        "gauss_steps",
        "point_steps",
        "roll_steps",
        "flow_steps",
        "ring_steps",
        "learned_nfe",
        "start",
        "memo",
        "recipes",
        "orders",
        "lik",
        "guide",
    ):
        assert (res / f"figures/{name}.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # sweeps, comparisons
    # the memorisation study: each size with the ideal and the trained denoiser, and the chance level
    memo = pd.read_csv(res / "studies/memo/table.csv")
    memorised = memo[memo["metric"] == "memorised"].set_index(["size", "denoiser"])["value"]
    assert set(memorised.index) == {(n, d) for n in (4, 64) for d in ("ideal", "learned", "data")}
    assert (memorised.xs("ideal", level="denoiser") > 0.9).all()  # the ideal denoiser copies its points
    # the training study: a row per recipe with its training cost, and the exact denoiser's floor
    recipes = pd.read_csv(res / "studies/recipes/table.csv").set_index("variant")
    assert list(recipes.index) == ["base", "eps", "raw", "exact"]
    assert (recipes.loc[["base", "eps", "raw"], "train_cpu_s"] > 0).all()
    assert recipes.loc["exact", "train_cpu_s"] != recipes.loc["exact", "train_cpu_s"]  # NaN: no training
    assert list(recipes["target"].iloc[:3]) == ["x0", "eps", "x0_raw"]
    assert recipes.loc["exact", "curve_median"] < recipes.loc["base", "curve_median"]
    # the orders study: DDIM first order, DPM-Solver++(2M) second, on both grids and processes
    orders = pd.read_csv(res / "studies/orders/table.csv").groupby(["sampler", "grid", "process"])["order"]
    for (sampler, _, _), order in orders.first().items():
        assert abs(order - {"ddim": 1, "dpmpp_2m": 2}[sampler]) < 0.2, (sampler, order)
    # the likelihood study: the exact flow on the spiral is its data's law, the tiny network is not
    lik = pd.read_csv(res / "studies/lik/table.csv").set_index(["set", "denoiser", "metric"])["value"]
    assert abs(lik["spiral", "exact", "kl"]) < 0.01  # 8 RK4 steps
    assert lik["mix", "learned", "kl"] > lik["mix", "exact", "kl"] > 0  # the exact model pays its start
    assert (res / "animations/guide.gif").read_bytes()[:6] == b"GIF89a"  # a study's animation
    point = load_run(res / "runs/point/ddim.npz", 10)[0]
    np.testing.assert_allclose(point, np.full((200, 1), 2.0), rtol=0, atol=1e-9)
    assert np.load(res / "data/roll/train.npy").shape == (2000, 2)
    assert np.load(res / "reference/roll/ddpm.npz")["samples-10"].shape == (100, 2)
    roll = pd.read_csv(res / "metrics/roll.csv")
    assert set(roll["denoiser"]) == {"learned", "exact"}
    # data on a curve is scored by its distance to the curve; blurred data (the ring's spiral) is not
    assert {"curve_median", "curve_p99", "curve_far"} <= set(roll["metric"])
    assert not pd.read_csv(res / "metrics/ring.csv")["metric"].str.startswith("curve").any()
    # where the network is wrong: its error against the exact denoiser over the trained levels
    error = pd.read_csv(res / "metrics/roll/error.csv")
    assert len(error) == 24 and (error["network_mse"] > 0).all() and (error["exact_mse"] > 0).all()
    assert (res / "figures/roll_error.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert not (res / "figures/ring_error.jpg").exists()  # no exact denoiser from an annulus
    assert roll.loc[roll["metric"] == "energy", "noise_floor"].notna().all()
    # references start where the learned runs do: for DDIM their distance is the network's error
    paired = roll[(roll["metric"] == "paired_dist") & (roll["denoiser"] == "exact")]
    assert set(paired["sampler"]) == {"ddim"} and (paired["value"] > 0).all()
    gauss = pd.read_csv(res / "metrics/gauss.csv").pivot_table(
        index=["sampler", "grid", "steps"], columns="metric", values="value"
    )
    # measured means sit on the exact prediction (2000 samples: 5 SE = 5 std / sqrt(2000))
    assert (np.abs(gauss["mean"] - gauss["exact_mean"]) < 5 * gauss["exact_std"] / np.sqrt(2000)).all()
    for rule in ("make_data", "train", "sample", "reference", "metrics_table", "figure", "study_run"):
        assert list((res / "logs" / rule).rglob("*.log")), rule
        assert list((res / "benchmarks" / rule).rglob("*.tsv")), rule


def test_second_dry_run_has_nothing_to_do(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, "-n", config=config)
    assert planned_jobs(proc) == {}, proc.stdout


def _reversed(node):
    """The same config with every mapping's keys in reverse order."""
    if isinstance(node, dict):
        return {k: _reversed(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reversed(v) for v in node]
    return node


def test_reordering_the_config_leaves_nothing_to_do(finished_run, tmp_path):
    """What a YAML formatter does (keys reordered, flow style made block
    style) changes no value, so no job may go stale."""
    workdir, _ = finished_run
    path = tmp_path / "reordered.yaml"
    path.write_text(yaml.safe_dump(_reversed(load_test_config()), sort_keys=False, default_flow_style=False))
    assert planned_jobs(snakemake(workdir, "-n", config=path)) == {}


ONE_RUN = {"sample_analytic": 1, "metrics_table": 1, "captions": 1, "all": 1}


@pytest.mark.parametrize(
    "experiment, steps, also",
    [
        # a changed step count: its chain, up to the figure that shows it
        ("point", 12, {"figure": 1}),
        # an added step count below the largest: the sampler's sweep job reruns
        # (one job per sampler label), and the figures drawn from it
        ("gauss", [5, 10, 20], {"steps_figure": 1, "figure": 1}),
    ],
)
def test_a_new_step_count_reruns_only_its_chain(finished_run, tmp_path, experiment, steps, also):
    workdir, _ = finished_run
    config = load_test_config()
    config["experiments"][experiment]["samplers"][0]["steps"] = steps
    proc = snakemake(workdir, "-n", config=write_config(tmp_path / "c.yaml", config))
    assert planned_jobs(proc) == {**ONE_RUN, **also}


def test_one_network_file_serves_the_roll_under_three_processes(tmp_path):
    """exp3 (sigma = 1), exp7 (sigma = 80) and exp5 (a flow) sample with one
    shared network: their learned runs plan one training job, and no other."""
    targets = ["results/runs/exp3/ddim_karras.npz", "results/runs/exp7/heun_karras.npz"]
    targets += ["results/runs/exp5/heun_karras.npz"]
    proc = snakemake(tmp_path, "-n", *targets, config=REPO / "config/config.yaml")
    jobs = planned_jobs(proc)
    assert jobs["train_network"] == 1 and "train" not in jobs and jobs["sample_learned"] == 3


def test_a_sampler_change_of_a_network_user_retrains_nothing(finished_run, tmp_path):
    """rollflow shares tinyroll with roll: its new sampler list reruns its own
    chain; the network and roll's runs stay."""
    workdir, _ = finished_run
    config = load_test_config()
    config["experiments"]["rollflow"]["samplers"] = [{"name": "euler", "steps": 4}]
    proc = snakemake(workdir, "-n", config=write_config(tmp_path / "c.yaml", config))
    jobs = planned_jobs(proc)
    assert "train_network" not in jobs and "train" not in jobs
    assert jobs["sample_learned"] == 1 and jobs["figure"] == 1


def test_a_start_studys_learned_list_redraws_only_its_figure(finished_run, tmp_path):
    """The experiments beside a start study are the figure's alone: neither
    its networks nor its runs read them."""
    workdir, _ = finished_run
    config = load_test_config()
    config["starts"]["start"]["learned"] = []
    proc = snakemake(workdir, "-n", config=write_config(tmp_path / "c.yaml", config))
    assert planned_jobs(proc) == {"study_figure": 1, "all": 1}


FIGURES = {"figure", "steps_figure", "comparison_figure", "study_figure", "error_figure"}
SAMPLING = {"sample_analytic", "sample_learned", "sample_reference", "study_run"}
DATA = {"make_data", "study_data"}
TRAINING = {"train", "study_train", "train_network"}
EVERY_RULE = (
    DATA
    | TRAINING
    | SAMPLING
    | FIGURES
    | {"noise_floor", "metrics_table", "network_error", "study_animation", "captions"}
)
ANIMATION = {"figure", "study_animation"}  # the GIFs: animate, grids, registry, io
GUIDED = {"study_animation"}  # downstream of the guidance study's run, for the modules it reaches
EXPERIMENT_SAMPLING = {"sample_analytic", "sample_learned", "sample_reference"}
# module -> the rules whose jobs run its code: a real change makes them stale
# (and, through their outputs, the jobs downstream: DOWNSTREAM)
LIBRARY_EDITS = {
    "__init__.py": EVERY_RULE,
    "io.py": EVERY_RULE,
    "seeds.py": EVERY_RULE - {"metrics_table"},
    # the data laws: not the experiments' training, which reads train.npy (the
    # start study's networks draw their own data), nor the tables
    "curve.py": EVERY_RULE - {"train", "metrics_table"},
    "data.py": EVERY_RULE - {"train", "metrics_table"},
    # the experiments' figures draw the data's law (data.py), not its scores; study figures score
    "metrics.py": SAMPLING | {"noise_floor", "study_figure"} | GUIDED,
    "process.py": TRAINING | SAMPLING | {"network_error"} | GUIDED,  # figures draw from tables and arrays
    # the few-step study's training runs its teacher's sampler: its students learn that map
    "grids.py": SAMPLING | FIGURES | ANIMATION | {"study_train"},
    "registry.py": SAMPLING | FIGURES | ANIMATION | {"study_train"},
    "sampling.py": SAMPLING | GUIDED | {"study_train"},  # no figures (they read the scores' exact laws)
    "runner.py": SAMPLING | GUIDED | {"study_train"},
    "laws.py": SAMPLING | GUIDED,
    "scores.py": EXPERIMENT_SAMPLING,
    # the workflow layer: one module per kind of job
    # (its __init__ has no code: Python runs it for every job that imports a job module)
    "jobs/__init__.py": DATA | TRAINING | SAMPLING | FIGURES | {"noise_floor", "network_error"},
    "jobs/make_data.py": DATA,
    "jobs/noise_floor.py": {"noise_floor"},
    "jobs/networks.py": {"train", "sample_learned", "network_error", "study_train"},
    "jobs/train_network.py": {"train_network"},
    "jobs/sample.py": EXPERIMENT_SAMPLING,
    "jobs/error.py": {"network_error"},
    "jobs/figure.py": {"figure"},
    "jobs/steps_figure.py": {"steps_figure"},
    "learn.py": TRAINING | GUIDED,
    "network.py": TRAINING | {"sample_learned", "study_run", "network_error"} | GUIDED,
    "errors.py": {"network_error", "study_run"},  # the training study's error curves
    "studies/__init__.py": {"study_train", "study_run", "study_figure", "captions"} | GUIDED,
    # a study module reaches its own jobs (STUDY_EDITS); the guidance study's animation too
    "likelihood.py": {"study_run"},
    "studies/guidance.py": {"study_train", "study_run", "study_figure", "captions"} | GUIDED,
    "guidance.py": {"study_train", "study_run"} | GUIDED,  # the ring's law; the guided laws
    "plots.py": FIGURES,
    "animate.py": ANIMATION,
    "tables.py": {"metrics_table", "captions"},
    "captions.py": {"captions"},  # restyling the report's tables reruns no figure
    # the few-step and hallucination studies' mathematics
    "transport.py": {"study_train", "study_run"},  # the few-step study's couplings, paths, W2
    "hallucination.py": {"study_train", "study_run", "study_figure"},
    # read by the Snakefile alone: an edit that changes no job's params reruns nothing
    "config.py": set(),
    "provenance.py": set(),
}


def study_edits() -> dict:
    """A study module -> its jobs: its run and figure, its training where
    the test config's sections of it train networks (a ``model``), and the
    report's captions where it prints result tables (``result_table``). Found
    from the package, as the workflow finds the studies: a new study adds no entry."""
    config = load_test_config()
    out = {}
    for section, stem in studies.SECTIONS.items():
        trains = any("model" in spec for spec in config.get(section, {}).values())
        tabled = hasattr(studies.module(section), "result_table") and config.get(section)
        out[f"studies/{stem}.py"] = (
            {"study_run", "study_figure"}
            | ({"study_train"} if trains else set())
            | ({"captions"} if tabled else set())
        )
    return out


LIBRARY_EDITS = {**study_edits(), **LIBRARY_EDITS}
DOWNSTREAM = {  # rule -> the rules that read its outputs
    "make_data": {"noise_floor", "train", "sample_analytic", "sample_learned", "sample_reference", "figure"}
    | {"network_error"},
    "train": {"sample_learned", "figure", "network_error"},
    "train_network": {"sample_learned", "figure", "network_error"},  # the .test study runs use none
    "network_error": {"error_figure"},
    "sample_analytic": {"metrics_table", "figure"},
    "sample_learned": {"sample_reference", "metrics_table", "figure"},
    "sample_reference": {"metrics_table"},
    "noise_floor": {"metrics_table"},
    "metrics_table": {"figure", "steps_figure", "comparison_figure", "study_figure", "captions"},
    "study_data": {"study_train", "study_run", "study_figure"},
    "study_train": {"study_run"},
    # a study's animation follows its run; which modules the animated (guidance) study's
    # run reaches is in LIBRARY_EDITS as GUIDED
    "study_run": {"study_figure", "captions"},
}


def stale(rules):
    """The rules and everything downstream of them."""
    out, todo = set(), list(rules)
    while todo:
        rule = todo.pop()
        if rule not in out:
            out.add(rule)
            todo += DOWNSTREAM.get(rule, ())
    return out


def test_every_library_module_has_its_rerun_scope():
    package = REPO / "src" / "stepdiff"
    assert {p.relative_to(package).as_posix() for p in package.rglob("*.py")} == set(LIBRARY_EDITS)


@pytest.fixture(scope="module")
def beside_finished_run(finished_run, tmp_path_factory):
    """A copy of the workflow and of the finished run, and its dry-run command."""
    workdir, config = finished_run
    root = tmp_path_factory.mktemp("edits")
    repo, work = root / "repo", root / "work"
    for part in ("workflow", "src", "config"):
        shutil.copytree(REPO / part, repo / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "Snakefile", repo / "Snakefile")
    shutil.copytree(workdir, work, symlinks=True)
    dry = [
        *SNAKEMAKE,
        "-s",
        str(repo / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(config),
        "-n",
    ]
    assert planned_jobs(subprocess.run(dry, capture_output=True, text=True)) == {}
    return repo / "src" / "stepdiff", dry


def reworded(source: str) -> str:
    """The same module with a comment added, its docstring reworded and
    reformatted (a blank line more between its imports and its code)."""
    tree_start = source.index('"""') + 3
    return "# a comment\n" + source[:tree_start] + "Reworded. " + source[tree_start:] + "\n\n# the end\n"


def test_comments_docstrings_and_layout_rerun_nothing(beside_finished_run):
    package, dry = beside_finished_run
    originals = {p: p.read_text() for p in package.rglob("*.py")}
    try:
        for path, text in originals.items():
            path.write_text(reworded(text) if '"""' in text else "# a comment\n" + text)
        planned = planned_jobs(subprocess.run(dry, capture_output=True, text=True))
    finally:
        for path, text in originals.items():
            path.write_text(text)
    assert planned == {}


def rule_code():
    """Each rule's code as its params fingerprint it: its script, and for a study
    rule (or the captions, over every tabled study) the study module and the
    function it calls (``code``, ``study_code`` and ``tables_code`` in
    workflow/rules/common.smk)."""
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            plain = re.search(r'code=code\("([\w.]+)"\)', block)
            study = re.search(r'code=(?:study|tables)_code\("([\w.]+)", "(\w+)"\)', block)
            out[name] = (plain or study).group(1), study.group(2) if study else None
    return out


def modules_run_by(rule, script, function, config) -> set[str]:
    """The library modules a rule's jobs (on ``config``) fingerprint, as paths
    relative to the package: its script's reach, and for a study rule each of
    the config's studies' module and what its ``function`` reaches, where the
    study has that job."""
    package = REPO / "src" / "stepdiff"
    reached = set(provenance.reach(REPO / "workflow" / "scripts" / script)[0])
    if function is not None:
        for section in studies.SECTIONS:
            module = studies.module(section)
            has_job = {
                "study_data": bool(module.DATA),
                "study_animation": hasattr(module, "animation"),
                "captions": hasattr(module, "result_table"),
            }
            for spec in config.get(section, {}).values():
                if rule == "study_train" and "model" not in spec or not has_job.get(rule, True):
                    continue
                path = package / "studies" / f"{studies.SECTIONS[section]}.py"
                reached |= set(provenance.function_reach(path, function)) | {path.resolve()}
    return {p.relative_to(package.resolve()).as_posix() for p in reached}


def test_the_rerun_table_is_what_each_rule_fingerprints():
    """In process, for every library module: the rules whose params fingerprint
    it are the table's (a real edit then reruns them and what is downstream:
    the dry runs below check that mechanism on a few modules)."""
    config = load_test_config()
    runs = {rule: modules_run_by(rule, *code, config) for rule, code in rule_code().items()}
    for module, rules in LIBRARY_EDITS.items():
        reaching = {rule for rule, modules in runs.items() if module in modules}
        # the animation follows the guidance study's run alone, which DOWNSTREAM cannot say (GUIDED)
        assert stale(reaching) - {"all"} - GUIDED == stale(rules) - {"all"} - GUIDED, module
        assert reaching & GUIDED <= rules, module


# The mechanism end to end, on three modules that each reach a different kind of job
# (sampling, training, a study); every other module's scope is checked in process above.
DRY_RUN_EDITS = ["sampling.py", "learn.py", "studies/guidance.py"]


@pytest.mark.parametrize("module", DRY_RUN_EDITS)
def test_a_real_change_reruns_exactly_the_jobs_that_run_it(beside_finished_run, module):
    """A real change (a new module-level name) to one library module plans the
    jobs whose scripts run its code and the jobs downstream of their outputs,
    nothing else: training only for the code training runs."""
    package, dry = beside_finished_run
    path = package / module
    text = path.read_text()
    try:
        path.write_text(text + "\n_EDITED = 1\n")
        planned = planned_jobs(subprocess.run(dry, capture_output=True, text=True))
    finally:
        path.write_text(text)
    planned.pop("all", None)
    assert set(planned) == stale(LIBRARY_EDITS[module]), planned


def test_diverging_training_fails_and_leaves_no_model(tmp_path):
    config = load_test_config()
    config = {"experiments": {"ring": config["experiments"]["ring"]}}
    config["experiments"]["ring"]["model"]["lr"] = 1.0e30
    proc = snakemake(
        tmp_path,
        "--cores",
        "1",
        "results/models/ring/denoiser.npz",
        config=write_config(tmp_path / "c.yaml", config),
        check=False,
    )
    assert proc.returncode != 0
    assert "at step" in (tmp_path / "results/logs/train/ring.log").read_text()
    assert not (tmp_path / "results/models/ring/denoiser.npz").exists()
    assert not list((tmp_path / "results/models/ring").glob("*"))


BAD_CONFIGS = {
    "unknown sampler": (("gauss", "samplers", 0, "name"), "dpm", "name"),
    "flow sampler on a diffusion": (
        ("gauss", "samplers", 0, "name"),
        "euler",
        "experiments.gauss.samplers[0].name",
    ),
    "diffusion sampler on a flow": (
        ("flow", "samplers", 0, "name"),
        "ddim",
        "experiments.flow.samplers[0].name",
    ),
    "sigma beside a source": (("flow", "sigma"), 1.0, "experiments.flow"),
    "annulus inner above outer": (("ring", "source", "inner"), 3.5, "experiments.ring.source.inner"),
    "negative spiral noise": (("ring", "data", "noise"), -0.1, "noise"),
    "grid below the trained range": (("ring", "model", "t_min"), 0.5, "experiments.ring.samplers[0].steps"),
    "unknown shared network": (("roll", "network"), "nosuch", "experiments.roll.network"),
    "a model beside a shared network": (("roll", "model"), {"hidden": 8}, "['model', 'network']"),
    "steps below 1": (("gauss", "samplers", 0, "steps"), [0, 5], "steps"),
    "negative sigma": (("gauss", "sigma"), -1.0, "sigma"),
    "unknown data kind": (("gauss", "data", "kind"), "moons", "kind"),
    "unknown grid": (("gauss", "samplers", 0, "grid"), "cosine", "grid"),
    "weights do not match points": (("pair", "data", "weights"), [1.0], "experiments.pair.data.weights"),
}


def _set(config, path, value):
    node = config["experiments"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def bad_config(case):
    """The test config broken as ``case`` says, and the key its error must name."""
    config = load_test_config()
    if case == "missing key":
        del config["experiments"]["gauss"]["seed"]
        return config, "seed"
    path, value, key = BAD_CONFIGS[case]
    _set(config, path, value)
    return config, key


@pytest.mark.parametrize("case", [*BAD_CONFIGS, "missing key"])
def test_a_bad_config_is_refused_naming_the_key(case):
    """What the Snakefile does before any job (the schema, then check_config),
    in process: each refusal names its key."""
    from snakemake.utils import validate

    from stepdiff.config import check_config

    config, key = bad_config(case)
    with pytest.raises(Exception) as refused:  # the schema's ValidationError or a ConfigError
        validate(config, str(REPO / "config/schema.yaml"))
        check_config(config)
    assert key in str(refused.value), str(refused.value)


@pytest.mark.parametrize("case", ["missing key", "unknown sampler"])  # one per stage, end to end
def test_bad_config_stops_before_any_job_and_names_the_key(case, tmp_path):
    config, key = bad_config(case)
    proc = snakemake(tmp_path, "--cores", "1", config=write_config(tmp_path / "c.yaml", config), check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert key in message, message
    assert not (tmp_path / "results").exists()


def test_the_repo_config_is_valid_and_plans_every_figure(tmp_path):
    proc = snakemake(tmp_path, "-n", config=REPO / "config/config.yaml")
    jobs = planned_jobs(proc)
    # exp3, exp5 and exp7 share the roll's network; exp4 trains its own
    assert jobs["figure"] == 8 and jobs["steps_figure"] == 5 and jobs["train"] == 1
    assert jobs["train_network"] == 2  # the roll's, and the spiral's (the likelihood study's sets)
    assert jobs["comparison_figure"] == 2 and jobs["study_animation"] == 1  # the guidance study's
    sections = yaml.safe_load((REPO / "config/config.yaml").read_text())
    entries = [spec for section in studies.SECTIONS for spec in sections.get(section, {}).values()]
    assert jobs["study_run"] == jobs["study_figure"] == len(entries) >= len(studies.SECTIONS)
    # a study with a model section trains (orders has none; start samples the shared roll network)
    assert jobs["study_train"] == sum("model" in spec for spec in entries) < len(entries)


def test_report_has_every_figure_and_table(finished_report):
    html = finished_report.read_text()
    for name in load_test_config()["experiments"]:
        assert f"{name}.jpg" in html and f"metrics/{name}.csv" in html and f"animations/{name}.gif" in html
    assert "Step-by-Step Diffusion" in html  # the front page
