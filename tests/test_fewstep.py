"""The few-step study (docs/theory.md sections 19 and 20): its couplings, the exact
flow of a point set from torchcfm's 8 Gaussians, the students' training sets,
and its table against exact answers (a student equal to its teacher's map has
no error; the exact independent flow's one Euler step is the data's mean)."""

import itertools

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import load_test_config
from scipy.special import logsumexp

from stepdiff import process, transport
from stepdiff.config import check_config
from stepdiff.data import from_config
from stepdiff.registry import ConfigError
from stepdiff.studies import fewstep

ROLL = {"kind": "swiss_roll", "n": 2000, "noise": 0.0, "scale": 0.07}


def brute_mixture_source(points, law, x, t):
    """E[x0 | x_t] by one logsumexp over every (point, component) pair."""
    r = x[:, None, None, :] - (1 - t) * points[None, :, None, :] - t * law.means[None, None]
    log = (
        np.log(law.weights)
        - x.shape[1] * np.log(t * law.stds)
        - 0.5 * np.sum(r * r, -1) / (t * law.stds) ** 2
    )
    w = logsumexp(log, axis=2)
    w = np.exp(w - w.max(axis=1, keepdims=True))
    return w @ points / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("t", [1.0, 0.5, 0.05, 1e-3])
def test_the_exact_flow_of_a_point_set_from_a_mixture_is_the_posterior_mean(t):
    rng = np.random.default_rng(0)
    law = transport.eight_gaussians_law()
    points, x = transport.moons(40, rng), 0.5 * law.sample(25, rng)
    denoiser = transport.mixture_source_denoiser(points, law, chunk=300)  # several chunks
    np.testing.assert_allclose(denoiser(x, t), brute_mixture_source(points, law, x, t), rtol=0, atol=1e-12)


def test_one_euler_step_of_the_exact_independent_flow_is_the_mean_of_the_data():
    """At t = 1 the start says nothing about its partner: D(z, 1) = E[x0]."""
    rng = np.random.default_rng(1)
    law = transport.eight_gaussians_law()
    points = transport.moons(30, rng)
    out = transport.mixture_source_denoiser(points, law)(law.sample(7, rng), 1.0)
    np.testing.assert_allclose(out, np.broadcast_to(points.mean(axis=0), out.shape), rtol=0, atol=1e-13)


def test_minibatch_ot_pairs_are_each_batch_optimal_and_a_permutation_of_both_sets():
    rng = np.random.default_rng(2)
    x0, x1 = rng.standard_normal((10, 2)), rng.standard_normal((10, 2)) + 3
    a, b = transport.minibatch_ot_pairs(x0, x1, 4, np.random.default_rng(3))
    for sets, paired in ((x0, a), (x1, b)):  # the same points, each once
        assert sorted(map(tuple, sets)) == sorted(map(tuple, paired))
    for start in (0, 4, 8):  # batches of 4, 4 and 2: each the brute-force optimum
        aa, bb = a[start : start + 4], b[start : start + 4]
        best = min(np.sum((aa - bb[list(p)]) ** 2) for p in itertools.permutations(range(len(bb))))
        assert np.sum((aa - bb) ** 2) == pytest.approx(best, rel=1e-12)


def spec(**change):
    """A small few-step section on the roll, as the test config has it."""
    section = load_test_config()["fewstep"]["few"]
    return {"student_teacher": "learned", **section, **change, "level_min": 0.01}  # the schema's default


class ExactNetwork:
    """A stand-in for the shared network: the roll's exact denoiser under any process."""

    def __init__(self, data):
        self.law = from_config(data)

    def serving(self, proc):
        return process.exact_denoiser(proc, self.law)


class ShiftedNetwork(ExactNetwork):
    """A stand-in network whose map differs from the exact one: the exact denoiser plus 0.01."""

    def serving(self, proc):
        exact = super().serving(proc)
        return lambda x, t: exact(x, t) + 0.01


@pytest.mark.parametrize("whose", ["learned", "exact"])
def test_the_student_learns_the_map_of_the_teacher_it_names(whose):
    """``student_teacher`` picks the one-step student's training targets (the
    network's map or the exact one; the reflows learn both either way), and
    labels its rows: taught by the exact map, the teacher's share of its
    error is zero."""
    params = spec(pairs=20, student_teacher=whose)
    tasks = dict(fewstep.networks(params, "t", {"network_tinyroll": ShiftedNetwork(ROLL)}))
    exact = process.exact_denoiser(fewstep.ROLL_FLOW, from_config(ROLL))
    maps = {"exact": tasks["reflow_exact"].x0, "learned": tasks["reflow_learned"].x0}
    assert np.abs(maps["learned"] - maps["exact"]).min() > 1e-3  # the two teachers differ
    np.testing.assert_array_equal(tasks["distill"].x0, maps[whose])
    np.testing.assert_array_equal(tasks["distill"].x1, tasks["reflow_exact"].x1)  # the same starts
    nets = {"tinyroll": ShiftedNetwork(ROLL), "reflow_exact": exact, "reflow_learned": exact}
    nets["distill"] = lambda z, t: fewstep.flow_map(exact, params, z)
    rows = pd.DataFrame(fewstep.roll_rows({**params, "n_samples": 50}, "t", nets)[0])
    distill = rows[rows["method"].str.startswith("distill")]
    assert set(distill["teacher"]) == {whose}
    teacher_error = distill[distill["metric"] == "error_teacher"]["value"].item()
    assert (teacher_error == 0.0) == (whose == "exact")


def test_a_student_equal_to_its_teachers_map_has_no_error_and_the_exact_teacher_lands_on_the_curve():
    """With the exact denoiser as the 'network' and the exact map as the
    one-step 'student', the split errors are zero exactly, the student's
    samples are the teacher's, and reflows equal to the exact flow have its
    straightness; the exact teacher lands within 1e-4 of the curve."""
    params = spec(n_samples=300)
    exact = process.exact_denoiser(fewstep.ROLL_FLOW, from_config(ROLL))
    nets = {
        "tinyroll": ExactNetwork(ROLL),
        "reflow_exact": exact,
        "reflow_learned": exact,
        "distill": lambda z, t: fewstep.flow_map(exact, params, z),
    }
    rows, arrays = fewstep.roll_rows(params, "t", nets)
    table = pd.DataFrame(rows).set_index(["method", "teacher", "nfe", "metric"])["value"]
    for part in ("student", "teacher", "total"):
        assert table["distill", "learned", 1, f"error_{part}"] == 0.0
    np.testing.assert_array_equal(arrays["distill"], arrays["exact"])
    assert table["teacher", "exact", 5, "curve_median"] < 1e-4
    assert table["teacher", "exact", 5, "curve_far"] == 0.0
    for metric in ("straightness", "transport_cost"):
        assert table["reflow", "exact", 0, metric] == table["flow", "exact", 0, metric]
    assert table["flow", "exact", 0, "excess_cost"] >= 0  # the optimal pairing of its own ends costs less


def test_the_moons_rows_have_the_exact_one_step_answer_and_the_floor():
    """With the exact independent flow standing in for both couplings' networks,
    one Euler step puts every sample on the mean of the point set, so W2 to the
    held-out draw is that draw's root mean square distance to the mean."""
    params = spec()
    moons = params["moons"]
    points = transport.moons(fewstep.EXACT_POINTS, np.random.default_rng(4), moons["noise"])
    law = transport.eight_gaussians_law(moons["scale"], moons["var"])
    exact = transport.mixture_source_denoiser(points, law)
    nets = {f"moons_{c}_0": exact for c in fewstep.COUPLINGS}
    rows = fewstep.moons_rows(params, "t", nets)
    table = pd.DataFrame(rows)
    one = table[(table["nfe"] == 1) & (table["coupling"] == "ot")]["value"].item()
    from stepdiff.seeds import rng_for

    test, _ = fewstep.moons_pair(moons, moons["n_samples"], rng_for(params["seed"], "t", "moons test", 0))
    assert one == pytest.approx(
        np.sqrt(np.mean(np.sum((test - points.mean(axis=0)) ** 2, axis=1))), rel=1e-12
    )
    assert (table[table["method"] == "floor"]["value"] > 0).all()  # two draws are not 0 apart
    assert set(table["coupling"]) == {"", "independent", "ot", "exact"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"network": "nowhere"}, r"fewstep\.few\.network: no network 'nowhere'"),
        (
            {"teacher": {"sampler": "ddpm", "steps": 5}},
            r"fewstep\.few\.teacher\.sampler: ddpm is not a flow sampler",
        ),
        ({"data": {**ROLL, "scale": 0.1}}, r"fewstep\.few\.data: not the law of networks\.tinyroll\.data"),
        ({"data": {"kind": "gaussian", "mean": 0.0, "std": 1.0}}, r"fewstep\.few\.data: a law on a curve"),
    ],
)
def test_the_config_check_names_the_key(change, message):
    config = load_test_config()
    config["fewstep"]["few"].update(change)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


@pytest.mark.workflow
def test_the_workflow_writes_the_study_table_and_figure(finished_run):
    workdir, config = finished_run
    res = workdir / "results"
    table = pd.read_csv(res / "studies/few/table.csv").fillna({"teacher": "", "coupling": ""})
    section = yaml.safe_load(config.read_text())["fewstep"]["few"]
    nfe = table[table["metric"] == "curve_median"].groupby(["method", "teacher"])["nfe"].apply(sorted)
    assert nfe["distill", "learned"] == [1] and nfe["distill+denoise", "learned"] == [2]
    assert nfe["reflow", "exact"] == nfe["reflow", "learned"] == sorted(section["euler"])
    w2 = table[(table["part"] == "moons") & (table["metric"] == "w2")]
    assert set(w2["coupling"]) == {"", "independent", "ot", "exact"}
    assert (res / "figures/few.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_a_paired_training_set_is_learned_as_a_map_and_an_unpaired_one_as_its_mean():
    """At t = 1 the flow's input is the source point alone: given its partner
    (``paired``) the network can learn the map z -> z / 2 (loss near 0);
    with independent partners the best it can do is the mean, whose loss is
    the data's variance in units of c_out^2 = sigma_data^2: about d = 2."""
    torch = pytest.importorskip("torch")
    from stepdiff import learn

    torch.set_num_threads(1)
    z = np.random.default_rng(5).standard_normal((2000, 2))
    recipe = dict(hidden=32, layers=2, n_freqs=2, steps=300, batch_size=256, lr=0.01, t_min=0.01, t_fixed=1.0)
    flow = process.LinearFlow(1.0)
    losses = {
        paired: learn.train(z / 2, flow, seed=0, x1=z, paired=paired, log=lambda *_: None, **recipe)[1][
            -50:
        ].mean()
        for paired in (True, False)
    }
    assert losses[True] < 0.05 < 1.5 < losses[False]
    with pytest.raises(ValueError, match=r"x1 \(10, 2\): source points"):
        learn.train(z, flow, seed=0, x1=z[:10], paired=True, **recipe)
