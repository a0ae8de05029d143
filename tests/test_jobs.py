"""Each kind of job, as the workflow runs it: what it reads, where its grid
ends, how its draws are seeded and paired, which code makes it stale."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, load_test_config
from snakemake.utils import validate

from stepdiff import config, data, experiment, grids, metrics, process, provenance
from stepdiff.config import ConfigError, job_params


def validated(cfg):
    """The config as jobs see it: validated, with the schema's defaults filled in."""
    validate(cfg, str(REPO / "config" / "schema.yaml"))
    config.check_config(cfg)
    return cfg


EXPERIMENTS = validated(load_test_config())["experiments"]


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


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    torch.set_num_threads(1)
    exp = EXPERIMENTS["roll"]
    x0 = experiment.make_data(job_params("make_data", exp), "roll")["train"]
    model, _ = learn.fit(job_params("train", exp), "roll", x0, log=lambda *_: None)
    path = tmp_path_factory.mktemp("model") / "denoiser.npz"
    learn.save(model, path, {})
    return path


def run_job(job, exp, name, model_file):
    """Call the library the way the job's script does."""
    label, steps = config.sampler_runs(EXPERIMENTS[name])[0]
    if job == "make_data":
        experiment.make_data(exp, name)
    elif job == "noise_floor":
        metrics.floor_rows(exp, name, np.zeros((5, 2)))
    elif job == "train":
        from stepdiff import learn

        exp["model"] = {**exp["model"], "steps": 2}  # what is read, not how long it trains
        learn.fit(exp, name, np.random.default_rng(0).standard_normal((50, 2)), log=lambda *_: None)
    elif job == "sample":
        x, _ = experiment.sample_run(exp, name, label, steps)
        metrics.run_rows(exp, name, x, x, label, steps, "exact")
    elif job == "sample_learned":
        from stepdiff import network

        x, _ = experiment.sample_run(exp, name, label, steps, network.denoiser_for(exp, model_file))
        metrics.run_rows(exp, name, x, x, label, steps, "learned")
    elif job == "reference":
        x = experiment.reference_run(exp, name, label, steps)
        metrics.run_rows(exp, name, x, x, label, steps, "exact", x)
    elif job in ("figure", "steps_figure"):
        pytest.skip("figures are drawn from files; see test_workflow")


LEARNED = [e for e in EXPERIMENTS if config.is_learned(EXPERIMENTS[e])]
JOBS = {
    "make_data": list(EXPERIMENTS),
    "noise_floor": list(EXPERIMENTS),
    "train": LEARNED,
    "sample": [e for e in EXPERIMENTS if e not in LEARNED],
    "sample_learned": ["roll"],
    "reference": [e for e in EXPERIMENTS if config.has_reference(EXPERIMENTS[e])],
}


@pytest.mark.parametrize("job", list(JOBS))
def test_jobs_read_exactly_their_params(job, model_file):
    """A job that reads a key missing from its params would keep stale results
    when that key changes; a key in its params that no job of its kind reads
    makes it rerun for nothing (say the noise floor after editing ``lr``)."""
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
    roll = cfg["experiments"]["roll"]
    roll["model"]["t_min"] = 1e-4
    roll["samplers"] = [{"name": "ddim", "grid": "sigma", "steps": [50, 100]}]
    validated(cfg)  # t = 1/100^2 = 1e-4: at the edge, allowed
    roll["samplers"][0]["steps"] = [50, 200]  # t = 2.5e-5
    with pytest.raises(ConfigError, match=r"experiments\.roll\.samplers\[0\]\.steps.*2\.5e-05.*t_min"):
        config.check_config(cfg)
    # the karras grid ends where the model's training does, not at a fixed floor
    roll["samplers"] = [{"name": "ddim", "grid": "karras", "steps": 30}]
    roll["model"]["t_min"] = 1e-3
    config.check_config(cfg)
    exp = job_params("sample_learned", cfg["experiments"]["roll"])
    assert exp["t_min"] == 1e-3
    assert grids.last_time(30, "karras", exp["t_min"]) == pytest.approx(1e-3, rel=1e-12)
    assert job_params("reference", cfg["experiments"]["roll"])["t_min"] == 1e-3


def test_noise_floor_is_drawn_at_every_evaluated_size():
    exp = {**EXPERIMENTS["roll"], "reference": {"n_samples": 500}}
    params = job_params("noise_floor", exp)
    assert params["sizes"] == [300, 500]
    test = experiment.make_data(job_params("make_data", exp), "roll")["test"]
    rows = pd.DataFrame(metrics.floor_rows(params, "roll", test))
    floor = rows.pivot(index="metric", columns="n", values="noise_floor")
    assert not np.isclose(floor[300], floor[500]).any()
    assert len(experiment.floor_draw(params, "roll")) == 500


def test_reference_runs_start_where_the_learned_runs_do():
    """Same starts: with the same (exact) denoiser, DDIM gives the same first rows."""
    exp = {**EXPERIMENTS["pair"], "reference": {"n_samples": 37}}
    x, _ = experiment.sample_run(job_params("sample", exp), "pair", "ddim", 10)
    ref = experiment.reference_run(job_params("reference", exp), "pair", "ddim", 10)
    np.testing.assert_array_equal(ref, x[:37])


def test_training_streams_depend_on_the_experiment_name():
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    exp = job_params("train", EXPERIMENTS["roll"])
    exp["model"] = {**exp["model"], "steps": 3}
    x0 = np.random.default_rng(0).standard_normal((100, 2))

    def first_layer(name):
        return learn.fit(exp, name, x0, log=lambda *_: None)[0].state_dict()["net.0.weight"]

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


def test_the_schema_names_the_registered_samplers():
    import yaml

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    assert schema["$defs"]["sampler"]["properties"]["name"]["enum"] == list(config.SAMPLERS)


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
    rows = {r["start"]: r for r in metrics.start_rows(spec, "s")}
    prior, p1 = rows["prior"], rows["p1"]
    assert prior["energy"] - p1["energy"] > 5 * np.hypot(prior["energy_se"], p1["energy_se"])
    assert set(rows) == {"prior", "p1", "floor"} and np.isnan(rows["floor"]["sigma"])
    # a study's network runs from the prior's own draw: the exact denoiser as
    # the "network" reproduces the prior row exactly
    exact = process.exact_denoiser(process.Diffusion(1.0), data.from_config(spec["data"]))
    rows = {r["start"]: r for r in metrics.start_rows(spec, "s", {1.0: exact})}
    assert {k: v for k, v in rows["learned"].items() if k != "start"} == {
        k: v for k, v in rows["prior"].items() if k != "start"
    }


def test_a_start_study_trains_each_network_down_to_its_grid():
    spec = {"sigmas": [1, 10], "sigma_min": 0.002, "seed": 3, "model": {"steps": 5, "t_min": 0.5}}
    nets = config.start_networks(spec)
    assert list(nets) == ["sigma1", "sigma10"]
    assert nets["sigma10"] == {"model": {"steps": 5, "t_min": pytest.approx(4e-8)}, "seed": 3, "sigma": 10}
    assert config.start_networks({"sigmas": [1], "sigma_min": 0.002, "seed": 3}) == {}  # no model section


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
        ({"data": {"kind": "point_masses", "points": [[0.0]]}}, r"memorisation\.memo\.data\.kind"),
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


def test_a_memorisation_study_may_not_take_an_experiments_name():
    cfg = load_test_config()
    cfg["memorisation"]["roll"] = cfg["memorisation"].pop("memo")
    with pytest.raises(ConfigError, match=r"memorisation\.roll: the name of an experiment"):
        config.check_config(cfg)
