"""Each kind of job, as the workflow runs it: what it reads, where its grid
ends, how its draws are seeded and paired, which code makes it stale."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, Recorder, load_test_config, snakemake
from snakemake.utils import validate

from stepdiff import config, data, grids, process, provenance, registry, studies
from stepdiff.config import ConfigError, job_params
from stepdiff.jobs import error, make_data, noise_floor, sample
from stepdiff.jobs.networks import denoiser_for, training
from stepdiff.studies import start


def validated(cfg):
    """The config as jobs see it: validated, with the schema's defaults filled in."""
    validate(cfg, str(REPO / "config" / "schema.yaml"))
    config.check_config(cfg)
    return cfg


EXPERIMENTS = validated(load_test_config())["experiments"]


@pytest.fixture(scope="module")
def model_file(tiny_network):
    """The roll experiment's network: the test config's shared one."""
    assert EXPERIMENTS["roll"]["network"] == "tinyroll"
    return tiny_network[1]


def run_job(job, exp, name, model_file):
    """Call the job module the way the job's script does."""
    label, steps = config.sampler_runs(EXPERIMENTS[name])[0]
    test = np.random.default_rng(0).standard_normal((20, data.from_config(EXPERIMENTS[name]["data"]).dim))
    if job == "make_data":
        make_data.run(exp, name)
    elif job == "noise_floor":
        noise_floor.run(exp, name, np.zeros((5, 2)))
    elif job == "train":
        from stepdiff import learn

        exp["model"] = {**exp["model"], "steps": 2}  # what is read, not how long it trains
        x0 = np.random.default_rng(0).standard_normal((50, 2))
        learn.fit(training(exp, name, x0), log=lambda *_: None)
    elif job == "sample":
        sample.sweep(exp, name, label, [steps], test)
    elif job == "sample_learned":
        sample.sweep(exp, name, label, [steps], test, denoiser_for(exp, model_file))
    elif job == "reference":
        x = sample.reference_run(exp, name, label, steps)
        sample.reference(exp, name, label, [steps], test, {steps: x})
    elif job == "error":
        error.run(exp, name, test, denoiser_for(exp, model_file))


LEARNED = [e for e in EXPERIMENTS if config.is_learned(EXPERIMENTS[e])]
JOBS = {
    "make_data": list(EXPERIMENTS),
    "noise_floor": list(EXPERIMENTS),
    "train": LEARNED,
    "sample": [e for e in EXPERIMENTS if e not in LEARNED],
    "sample_learned": ["roll"],
    "reference": [e for e in EXPERIMENTS if config.has_reference(EXPERIMENTS[e])],
    "error": [e for e in LEARNED if config.has_reference(EXPERIMENTS[e])],
}


@pytest.mark.parametrize("job", list(JOBS))
def test_jobs_read_exactly_their_params(job, model_file):
    """A job that reads a key missing from its params would keep stale results
    when that key changes; a key in its params that no job of its kind reads
    makes it rerun for nothing (say the noise floor after editing ``lr``).
    The library's side of each kind that samples or trains, fast; every rule
    of the workflow, figures and studies included, as Snakemake runs it:
    ``test_every_rule_reads_exactly_its_params``."""
    read = set()
    for name in JOBS[job]:
        exp = Recorder(job_params(job, EXPERIMENTS[name]))
        run_job(job, exp, name, model_file)
        declared = set(config.JOB_KEYS[job])
        assert exp.read <= declared, f"{job} on {name} reads {exp.read - declared} outside its params"
        read |= exp.read
    declared = set(config.JOB_KEYS[job])
    assert declared <= read, f"{job} declares {declared - read}, which it never reads"


def test_params_do_not_depend_on_key_order():
    exp = EXPERIMENTS["roll"]
    shuffled = {k: exp[k] for k in reversed(list(exp))}
    shuffled["model"] = {k: exp["model"][k] for k in reversed(list(exp["model"]))}
    for job in config.JOB_KEYS:
        assert repr(job_params(job, shuffled)) == repr(job_params(job, exp)), job


def test_learned_grids_stay_in_the_trained_range():
    cfg = load_test_config()
    del cfg["starts"]  # it needs roll's ddim run at 10 steps, replaced here
    roll, net = cfg["experiments"]["roll"], cfg["networks"]["tinyroll"]
    net["levels"][0] = 0.01  # at sigma = 1: t_min = 0.01^2 = 1e-4, the network's smallest level
    roll["samplers"] = [{"name": "ddim", "grid": "sigma", "steps": [50, 100]}]
    validated(cfg)  # t = 1/100^2 = 1e-4: at the edge, allowed
    roll["samplers"][0]["steps"] = [50, 200]  # t = 2.5e-5
    with pytest.raises(ConfigError, match=r"experiments\.roll\.samplers\[0\]\.steps.*2\.5e-05.*t_min"):
        config.check_config(cfg)
    # the karras grid ends where the network's training does, not at a fixed floor
    roll["samplers"] = [{"name": "ddim", "grid": "karras", "steps": 30}]
    net["levels"][0] = 1e-3**0.5  # t_min = 1e-3
    config.check_config(cfg)
    exp = job_params("sample_learned", cfg["experiments"]["roll"])
    assert exp["t_min"] == pytest.approx(1e-3, rel=1e-12)
    assert grids.last_time(30, "karras", exp["t_min"]) == pytest.approx(1e-3, rel=1e-12)
    assert job_params("reference", cfg["experiments"]["roll"])["t_min"] == exp["t_min"]


def test_noise_floor_is_drawn_at_every_evaluated_size():
    exp = {**EXPERIMENTS["roll"], "reference": {"n_samples": 500}}
    params = job_params("noise_floor", exp)
    assert params["sizes"] == [300, 500]
    test = make_data.run(job_params("make_data", exp), "roll")["test"]
    rows = pd.DataFrame(noise_floor.run(params, "roll", test))
    floor = rows.pivot(index="metric", columns="n", values="noise_floor")
    assert not np.isclose(floor[300], floor[500]).any()
    assert len(noise_floor.draw(params, "roll")) == 500


def test_reference_runs_start_where_the_learned_runs_do():
    """Same starts: with the same (exact) denoiser, DDIM gives the same first rows."""
    exp = {**EXPERIMENTS["pair"], "reference": {"n_samples": 37}}
    x, _ = sample.sample_run(job_params("sample", exp), "pair", "ddim", 10)
    ref = sample.reference_run(job_params("reference", exp), "pair", "ddim", 10)
    np.testing.assert_array_equal(ref, x[:37])


def test_a_run_keeps_the_cloud_and_the_paths_at_few_rows():
    """A 1000-step run of 2500 samples keeps 41 rows (t = 1 and t = 0
    included), the paths of n_trajectories samples and the cloud of the
    first 2000, which starts at the start batch and ends at the samples."""
    exp = job_params("sample", {**EXPERIMENTS["pair"], "n_samples": 2500, "n_trajectories": 7})
    x, record = sample.sample_run(exp, "pair", "ddim", 1000)
    rows = record.rows
    assert rows[0] == 0 and rows[-1] == 1000 and len(rows) == 41
    assert record.paths.shape == (41, 7, 2) and record.cloud.shape == (41, sample.CLOUD, 2)
    np.testing.assert_array_equal(record.cloud[-1], x[: sample.CLOUD])
    np.testing.assert_array_equal(record.paths, record.cloud[:, :7])
    x1 = sample.start(exp, "pair", "ddim", 1000, 2500, 2)
    np.testing.assert_array_equal(record.cloud[0], x1[: sample.CLOUD])
    small = job_params("sample", EXPERIMENTS["pair"])  # 200 samples: all of them, every row of 10 steps
    x, record = sample.sample_run(small, "pair", "ddim", 10)
    assert record.rows.tolist() == list(range(11)) and record.cloud.shape == (11, 200, 2)


def test_training_streams_depend_on_the_experiment_name():
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    exp = job_params("train", EXPERIMENTS["roll"])
    exp["model"] = {**exp["model"], "steps": 3}
    x0 = np.random.default_rng(0).standard_normal((100, 2))

    def first_layer(name):
        return learn.fit(training(exp, name, x0), log=lambda *_: None)[0].state_dict()["net.0.weight"]

    assert torch.equal(first_layer("roll"), first_layer("roll"))
    assert not torch.equal(first_layer("roll"), first_layer("other"))


def test_code_fingerprints_follow_the_imports():
    scripts = REPO / "workflow" / "scripts"
    reached = {s.stem: {m.name for m in provenance.reach(s)[0]} for s in scripts.glob("*.py")}
    assert "plots.py" in reached["figure"] and "plots.py" not in reached["train"]
    assert "learn.py" in reached["train"] and "learn.py" not in reached["sample"]
    assert "sampling.py" in reached["sample"]


def test_fingerprint_changes_with_the_code(tmp_path):
    package = tmp_path / "stepdiff"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("X = 1\n")
    script = tmp_path / "job.py"
    script.write_text("from stepdiff import a\n")
    old = provenance.PACKAGE
    try:
        provenance.PACKAGE = package
        provenance.reach.cache_clear()
        before = provenance.fingerprint(script)
        assert {m.name for m in provenance.reach(Path(script))[0]} == {"__init__.py", "a.py", "b.py"}
        (package / "b.py").write_text("X = 2\n")
        assert provenance.fingerprint(script) != before
    finally:
        provenance.PACKAGE = old
        provenance.reach.cache_clear()


@pytest.mark.parametrize("name, process", [("dpm", "diffusion"), ("euler", "diffusion"), ("ddim", "flow")])
def test_a_sampler_name_outside_the_registry_or_its_process_is_refused(name, process):
    """The schema takes any name; the check names the key and the allowed ones
    (the registry's), so a new sampler needs no schema edit."""
    cfg = load_test_config()
    e = "gauss" if process == "diffusion" else "flow"
    cfg["experiments"][e]["samplers"][0]["name"] = name
    allowed = [n for n, s in registry.SAMPLERS.items() if process in s.processes]
    with pytest.raises(ConfigError) as error:
        config.check_config(cfg)
    message = str(error.value)
    assert message.startswith(f"experiments.{e}.samplers[0].name: '{name}' is not a {process} sampler")
    assert str(allowed) in message


def test_references_rerun_each_sampler_at_its_largest_steps_up_to_max_steps():
    """roll runs ddpm at 10 steps and ddim at 5 and 10."""
    exp = EXPERIMENTS["roll"]
    assert config.reference_runs(exp) == [("ddpm", 10), ("ddim", 10)]
    capped = {**exp, "reference": {"n_samples": 100, "max_steps": 7}}
    assert config.reference_runs(capped) == [("ddim", 5)]  # ddpm has no run at 7 steps or fewer
    assert config.reference_runs(EXPERIMENTS["ring"]) == []  # no exact denoiser from an annulus


def test_a_start_study_shows_the_start_mismatch():
    """Gaussian data N((2, 2), 0.5^2 I) at sigma = 1: DDIM from N(0, I) keeps a
    mean offset of 2 (1 - 0.5 / sqrt(1.25)) = 1.1 per coordinate, from p_1 it
    has none (only discretisation); the energy distances must differ by more
    than 5 combined standard errors, and the floor row is a fresh data draw."""
    spec = {
        "data": {"kind": "gaussian", "mean": [2.0, 2.0], "std": 0.5},
        "sigmas": [1.0],
        "sampler": "ddim_karras",
        "steps": 20,
        "n_samples": 500,
        "seed": 0,
        "sigma_min": 0.002,
    }
    rows = {r["start"]: r for r in start.run(spec, "s", {}, {})[0]}
    prior, p1 = rows["prior"], rows["p1"]
    assert prior["energy"] - p1["energy"] > 5 * np.hypot(prior["energy_se"], p1["energy_se"])
    assert set(rows) == {"prior", "p1", "floor"} and np.isnan(rows["floor"]["sigma"])
    # a study's network runs from the prior's own draw: the exact denoiser as
    # the "network" reproduces the prior row exactly
    exact = process.exact_denoiser(process.Diffusion(1.0), data.from_config(spec["data"]))
    rows = {r["start"]: r for r in start.run(spec, "s", {}, {"sigma1": exact})[0]}
    assert {k: v for k, v in rows["learned"].items() if k != "start"} == {
        k: v for k, v in rows["prior"].items() if k != "start"
    }


def test_a_start_study_trains_each_network_down_to_its_grid():
    spec = {"sigmas": [1, 10], "sigma_min": 0.002, "seed": 3, "model": {"steps": 5, "t_min": 0.5}}
    nets = start.networks_of(spec)
    assert list(nets) == ["sigma1", "sigma10"]
    assert nets["sigma10"] == {"model": {"steps": 5, "t_min": pytest.approx(4e-8)}, "seed": 3, "sigma": 10}
    assert start.networks_of({"sigmas": [1], "sigma_min": 0.002, "seed": 3}) == {}  # no model section


@pytest.mark.parametrize(
    "change, key",
    [
        ({"sampler": "euler"}, "starts.start.sampler"),
        ({"sampler": "dpm"}, "starts.start.sampler"),
        ({"learned": ["ring"]}, "starts.start.learned"),
        ({"steps": 7}, "starts.start.learned"),
    ],
)
def test_start_study_errors_name_the_key(change, key):
    cfg = load_test_config()
    cfg["starts"]["start"].update(change)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.check_config(cfg)


@pytest.mark.parametrize(
    "change, key",
    [
        ({"sizes": [4, 65]}, r"memorisation\.memo\.sizes: \[65\] above data\.n = 64"),
        ({"samplers": [{"name": "euler", "steps": 10}]}, r"memorisation\.memo\.samplers\[0\]\.name"),
        (
            {"data": {"kind": "point_masses", "points": [[0.0]]}},
            r"memorisation\.memo\.data: a kind with a training-set size n",
        ),
        # the networks are trained down to model.t_min: a uniform grid of 10 steps queries t = 0.1
        ({"model": {"t_min": 0.5}}, r"memorisation\.memo\.samplers\[0\]\.steps"),
    ],
)
def test_memorisation_errors_name_the_key(change, key):
    cfg = validated(load_test_config())
    cfg["memorisation"]["memo"].update(change)
    if "model" in change:
        cfg["memorisation"]["memo"]["samplers"] = [{"name": "ddim", "grid": "uniform", "steps": 10}]
    with pytest.raises(ConfigError, match=key):
        config.check_config(cfg)


@pytest.mark.parametrize(
    "section, name, clash",
    [
        (
            "memorisation",
            "roll",
            r"memorisation\.roll: its outputs would be named 'roll', as those of experiments\.roll",
        ),
        (
            "comparisons",
            "gauss_steps",
            r"comparisons\.gauss_steps: .* 'gauss_steps', as those of experiments\.gauss",
        ),
        ("starts", "learned_nfe", r"starts\.learned_nfe: .* as those of comparisons\.learned_nfe"),
        # either of the two is named first: both are named
        (
            "memorisation",
            "start",
            r"(memorisation\.start: .* as those of starts\.start"
            r"|starts\.start: .* as those of memorisation\.start)",
        ),
    ],
)
def test_names_whose_outputs_collide_are_refused(section, name, clash):
    """A study or comparison named like another output (``gauss_steps`` is the
    gauss experiment's steps figure) would overwrite it: refused before any job."""
    cfg = load_test_config()
    source = {"memorisation": "memo", "comparisons": "learned_nfe", "starts": "start"}[section]
    cfg[section][name] = cfg[section].pop(source)
    with pytest.raises(ConfigError, match=clash):
        config.check_config(cfg)


def test_a_curve_metric_compares_only_experiments_on_a_curve():
    cfg = load_test_config()
    cfg["comparisons"]["learned_nfe"]["metric"] = "curve_median"  # roll is on a curve, ring is blurred
    with pytest.raises(
        ConfigError, match=r"comparisons\.learned_nfe\.metric: curve_median needs data on a curve"
    ):
        config.check_config(cfg)
    cfg["comparisons"]["learned_nfe"]["experiments"] = ["roll"]
    config.check_config(cfg)


def test_a_reference_larger_than_its_run_is_refused_and_the_default_fits():
    """The reference reruns the first of the learned run's starts: it cannot
    have more. Without a reference section it takes min(2000, n_samples)."""
    cfg = load_test_config()
    roll = cfg["experiments"]["roll"]
    roll["reference"]["n_samples"] = roll["n_samples"] + 1
    with pytest.raises(
        ConfigError, match=r"experiments\.roll\.reference\.n_samples: 301 above n_samples = 300"
    ):
        config.check_config(cfg)
    del roll["reference"]
    config.check_config(cfg)
    assert config.reference_size(roll) == 300 and config.job_params("reference", roll)["n_reference"] == 300


@pytest.mark.parametrize(
    "source", [{"kind": "gaussian", "std": 1.0}, {"kind": "annulus", "inner": 2.5, "outer": 3.0}]
)
def test_a_smaller_start_draw_is_the_first_rows_of_a_larger_one(source):
    """Reference runs pair with learned runs by this: sample i starts where
    learned sample i does, whatever the two sizes."""
    exp = {"source": source, "seed": 4, "data": {"kind": "spiral", "turns": 3, "noise": 0.1}}
    small = sample.start(exp, "ring", "euler", 5, 100, 2)
    large = sample.start(exp, "ring", "euler", 5, 1000, 2)
    np.testing.assert_array_equal(small, large[:100])


def test_equal_numbers_give_equal_seeds():
    """``sigmas: [1, 3]`` and ``[1.0, 3.0]`` draw the same numbers."""
    from stepdiff.seeds import job_seed

    assert job_seed(0, "start", 1) == job_seed(0, "start", 1.0) == job_seed(0, "start", np.float64(1))
    assert job_seed(0, "start", 0.5) != job_seed(0, "start", 1)
    spec = {"data": {"kind": "gaussian", "mean": [2.0, 2.0], "std": 0.5}, "sampler": "ddim", "steps": 3}
    spec.update(n_samples=50, seed=9, sigma_min=0.01)
    ints = start.run({**spec, "sigmas": [1, 3]}, "s", {}, {})[0]
    floats = start.run({**spec, "sigmas": [1.0, 3.0]}, "s", {}, {})[0]
    assert [r["energy"] for r in ints] == [r["energy"] for r in floats]


# Loaded by every Python process of a recorded run (through PYTHONPATH); in
# the jobs' scripts (snakemake writes them to .snakemake/scripts/) it hands
# out ``snakemake.params`` with each dict wrapped so that it records the keys
# read (``[]``, ``get``, ``in``; iterating, as a copy or a JSON dump does,
# reads them all), notes which params are used and whether the script reads
# ``snakemake.config``, and writes it all to a JSON file when the script ends.


# The top-level keys the schema lets each kind of config section set.
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
STUDIES = ("comparisons", *studies.SECTIONS)  # every kind of study the package finds
SETTABLE = {
    "experiments": set(SCHEMA["$defs"]["experiment"]["properties"]),
    "networks": set(SCHEMA["$defs"]["network"]["properties"]),
    **{kind: set(SCHEMA["properties"][kind]["additionalProperties"]["properties"]) for kind in STUDIES},
}


def config_section(cfg, record):
    """The kind and the section of the config a job's params come from (the
    validated config, defaults filled in); none for a job of the whole run
    (the report's captions), whose params hold no config section."""
    w = record["wildcards"]
    if not w:
        return None, {}
    if "experiment" in w:
        return "experiments", cfg["experiments"][w["experiment"]]
    if "comparison" in w:
        return "comparisons", cfg["comparisons"][w["comparison"]]
    if "network" in w:
        return "networks", cfg["networks"][w["network"]]
    kind = next(s for s in studies.SECTIONS if w["study"] in cfg.get(s, {}))
    return kind, cfg[kind][w["study"]]


def stale(key, param, kind, section):
    """Whether a job that reads ``key`` outside its params would miss an edit
    of it: when its section sets it (the params left it out), or could set it
    and the params, built by ``job_params`` for some kind of job, would leave
    it out too."""
    if key in section:
        return True
    if kind in studies.SECTIONS:  # a key some job of the study declares is in its params once set
        declared = set().union(*studies.module(kind).KEYS.values())
        return key in SETTABLE[kind] and key not in declared
    kinds = [job for job in config.JOB_KEYS if set(job_params(job, section)) == set(param["keys"])]
    return key in SETTABLE[kind] and not any(key in config.JOB_KEYS[job] for job in kinds)


@pytest.fixture(scope="module")
def recorded_run(finished_run):
    """The test run (``finished_run``, which records every job's params: conftest's
    RECORD_HOOK) as records, the config as the jobs saw it, and the rules' names."""
    workdir, config = finished_run
    rules = snakemake(workdir, "--list-rules", config=config)
    names = [line.split()[0] for line in rules.stdout.splitlines() if line[:1].strip()]  # not the docstrings
    records = [json.loads(f.read_text()) for f in (workdir / "params-records").glob("*.json")]
    cfg = yaml.safe_load(config.read_text())
    return records, validated(cfg), names


def test_every_rule_reads_exactly_its_params(recorded_run):
    """Every rule of the workflow, each of its jobs run by Snakemake on the
    test config, its script and the library reading Snakemake's own params:

    * no job reads ``snakemake.config``: every setting reaches it through params;
    * a key a job reads is in its params, unless its config section does not
      set it either (a default, as for ``source`` in a diffusion) and either
      its params would hold it if set (``stepdiff.config.JOB_KEYS``) or the schema
      does not let that section set it; a setting read but left out of the
      params would leave stale results (``stale``);
    * every key of a rule's params is read by some job of the rule, and every
      other param used: an unread one reruns the jobs for nothing. ``code``
      (the fingerprint of the library code a rule runs) and ``caption`` (the
      report's) are never read.

    The studies set every key their schema allows (the test config does),
    so that a key read but filtered out of the params cannot hide as unset."""
    records, cfg, rules = recorded_run
    ran = {r["rule"] for r in records}
    assert ran == set(rules) - {"all"}, f"never ran: {set(rules) - {'all'} - ran}"
    for kind in STUDIES:
        for name, spec in cfg[kind].items():
            # keys the schema makes exclusive (not: required: [a, b]): every one but one of them
            exclusive = SCHEMA["properties"][kind]["additionalProperties"].get("not", {}).get("required", [])
            allowed = [SETTABLE[kind] - {key} for key in exclusive] or [SETTABLE[kind]]
            assert set(spec) in allowed, (kind, name, sorted(SETTABLE[kind] - set(spec)))
    declared, read, used = {}, {}, {}
    for record in records:
        job = f"{record['rule']} {record['wildcards']}"
        assert not record["config"], f"{job} reads snakemake.config"
        kind, section = config_section(cfg, record)
        for name, param in record["params"].items():
            key = (record["rule"], name)
            used[key] = used.get(key, False) or param["used"]
            if param["dict"]:
                declared.setdefault(key, set()).update(param["keys"])
                read.setdefault(key, set()).update(param["read"])
                outside = {
                    k for k in set(param["read"]) - set(param["keys"]) if stale(k, param, kind, section)
                }
                assert not outside, f"{job} reads {outside} outside params.{name}"
    for (rule, name), was_used in used.items():
        if name in ("code", "caption"):  # the caption is the report's (workflow/report/study.rst)
            assert not was_used, f"{rule} reads its {name}"
            continue
        assert was_used, f"{rule}: params.{name} is never used"
        if (rule, name) in declared:
            unread = declared[(rule, name)] - read[(rule, name)]
            assert not unread, f"{rule}: params.{name} holds {unread}, which no job of it reads"


@pytest.mark.parametrize(
    "section, key",
    [
        ({"means": [[0.0, 0.0], [1.0]], "stds": 0.3}, r"experiments\.gauss\.data\.means: all means"),
        ({"means": [[0.0, 0.0], [1.0, 1.0]], "stds": [0.3]}, r"experiments\.gauss\.data\.stds: 1 stds for 2"),
        ({"means": [[0.0, 0.0]], "stds": 0.3, "weights": [1, 2]}, r"experiments\.gauss\.data\.weights: 2"),
    ],
)
def test_a_gaussian_mixture_whose_parts_do_not_match_is_refused(section, key):
    cfg = validated(load_test_config())
    cfg["experiments"]["gauss"]["data"] = {"kind": "gaussian_mixture", **section}
    with pytest.raises(ConfigError, match=key):
        config.check_config(cfg)


def test_a_gaussian_mixture_section_is_the_mixture_it_names():
    """The kind's law: components, stds broadcast, weights normalised (equal by default)."""
    law = data.from_config({"kind": "gaussian_mixture", "means": [[0, 0], [2, 1]], "stds": 0.5})
    np.testing.assert_array_equal(law.means, [[0, 0], [2, 1]])
    np.testing.assert_array_equal(law.stds, [0.5, 0.5])
    np.testing.assert_array_equal(law.weights, [0.5, 0.5])
    law = data.from_config(
        {"kind": "gaussian_mixture", "means": [[0], [1]], "stds": [1, 2], "weights": [1, 3]}
    )
    np.testing.assert_array_equal(law.weights, [0.25, 0.75])


@pytest.mark.parametrize(
    "change, key",
    [
        ({"variants": {"base": {"hidden": 8}}}, r"training\.recipes\.variants: \['base'\]"),
        ({"sampler": "ddpm"}, r"training\.recipes\.sampler: ddpm is not a deterministic diffusion"),
        ({"sampler": "euler_karras"}, r"training\.recipes\.sampler: euler"),
        ({"sampler": "ddim", "steps": 20000}, r"training\.recipes\.steps: ddim with 20000 steps"),
        (
            {"data": {"kind": "spiral", "n": 100, "turns": 2, "noise": 0.1}},
            r"training\.recipes\.data: data on a",
        ),
    ],
)
def test_training_study_errors_name_the_key(change, key):
    cfg = validated(load_test_config())
    cfg["training"]["recipes"].update(change)
    with pytest.raises(ConfigError, match=key):
        config.check_config(cfg)


class Served:
    """A stand-in shared network: at each sigma it serves the data's exact denoiser."""

    def __init__(self, dist):
        self.dist, self.served = dist, []

    def serving(self, proc):
        self.served.append(proc.sigma)
        return process.exact_denoiser(proc, self.dist)


def test_a_start_study_serves_one_shared_network_at_every_sigma():
    """With ``network``, the one network is served at each sigma from the prior's
    own draw: with the exact denoiser behind it, the learned row equals the
    prior row exactly; and the config check refuses a network of other data."""
    cfg = validated(load_test_config())
    spec = {k: v for k, v in cfg["starts"]["start"].items() if k != "model"}
    spec["network"] = "shared"
    shared = Served(data.from_config(spec["data"]))
    rows, _ = start.run(spec, "start", {}, {"shared": shared})
    assert shared.served == spec["sigmas"]
    table = pd.DataFrame(rows).set_index(["sigma", "start"])
    for sigma in spec["sigmas"]:
        assert table.loc[(sigma, "learned"), "energy"] == table.loc[(sigma, "prior"), "energy"]
    cfg["networks"]["shared"] = {
        "data": {"kind": "swiss_roll", "n": 10, "noise": 0.0, "scale": 0.07},
        "levels": [1e-3, 10.0],
    }
    with pytest.raises(ConfigError, match=r"starts\.start\.network: shared learned other data"):
        start.check(spec, "starts.start", cfg)
    cfg["networks"]["shared"]["data"] = {**spec["data"], "n": 10}  # the same law: n is a training set's size
    start.check(spec, "starts.start", cfg)
    cfg["networks"]["shared"]["levels"] = [0.1, 10.0]
    with pytest.raises(ConfigError, match=r"starts\.start\.network: .*above sigma_min"):
        start.check(spec, "starts.start", cfg)
