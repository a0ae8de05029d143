"""The hallucination study (docs/theory.md section 21): its exact denoiser
reproduces the law's tail, its table holds every run's rates and detector
scores, its config check names the key, and the workflow runs it."""

import numpy as np
import pandas as pd
import pytest
from conftest import load_test_config

from stepdiff import config, process
from stepdiff import hallucination as h
from stepdiff.data import from_config
from stepdiff.registry import ConfigError
from stepdiff.studies import hallucination as study

ROLL = {"kind": "swiss_roll", "n": 2000, "noise": 0.0, "scale": 0.07}


def spec(**change):
    """A small study: the grid under DDPM (their sampler, on the karras grid)
    and DDIM, the test config's window and k's."""
    out = {
        "laws": ["grid"],
        "sigma": 5.0,
        "n_train": 500,
        "ideal_points": 25,
        "model": {"t_min": 4.0e-10},
        "samplers": [
            {"name": "ddpm", "grid": "karras", "steps": 200},
            {"name": "ddim", "grid": "karras", "steps": 10},
        ],
        "k": 4.0,
        "k_tail": 3.0,
        "windows": {"mid": [0.01, 0.3], "late": [1.0e-4, 1.0e-2]},
        "last_calls": 3,
        "kept": 0.96,
        "n_samples": 300,
        "seed": 5,
    }
    return {**out, **change}


def exact_networks(laws, sigma):
    """Each law's exact denoiser, standing in for its network."""
    proc = process.Diffusion(sigma)
    return {law: process.exact_denoiser(proc, study.law_of(law)) for law in laws}


class Served:
    """A stand-in shared network: the exact denoiser of its law under the process it is served."""

    def __init__(self, dist):
        self.dist = dist

    def serving(self, proc):
        return process.exact_denoiser(proc, self.dist)


def rows_of(rows):
    return pd.DataFrame(rows, columns=study.COLUMNS)


def test_the_exact_denoiser_with_ddpm_reproduces_the_law_tail():
    """Their sampler with the exact denoiser samples the law: beyond k_tail = 3
    stds its rate is the law's exact tail exp(-9/2) = 1.1% within 3 binomial
    SE of that tail (n = 4000: SE = 0.0017)."""
    params = spec(n_samples=4000, samplers=[{"name": "ddpm", "grid": "karras", "steps": 200}], ideal_points=5)
    rows, _ = study.run(params, "tail", {}, exact_networks(["grid"], 5.0))
    table = rows_of(rows)
    tail = h.tail_probability(h.grid_2d(), 3.0)
    got = table[(table["denoiser"] == "exact") & (table["metric"] == "rate") & (table["k"] == 3.0)]
    assert len(got) == 1
    se = np.sqrt(tail * (1 - tail) / 4000)
    assert abs(got["value"].iloc[0] - tail) < 3 * se
    assert got["se"].iloc[0] == pytest.approx(
        np.sqrt(got["value"].iloc[0] * (1 - got["value"].iloc[0]) / 4000)
    )


def test_the_table_holds_every_run_and_its_detector_scores():
    """Every law, denoiser and sampler run has its rates at both k's; the 2-D
    laws their lattice counts (which add up to the rate at k); the law and the
    training set their tails; the roll its rate and its detector's scores."""
    laws = ["grid", "rotated", "modes"]
    params = spec(
        laws=laws,
        n_samples=200,
        roll={
            "network": "r",
            "sigma": 5.0,
            "sampler": "heun_karras",
            "steps": 6,
            "n_samples": 100,
            "curve_threshold": 0.01,
        },
        roll_network={"data": {k: v for k, v in ROLL.items() if k != "n"}, "level": 0.01},
    )
    networks = {**exact_networks(laws, 5.0), "r": Served(from_config(ROLL))}
    rows, arrays = study.run(params, "table", {}, networks)
    table = rows_of(rows)
    assert list(table.columns) == list(study.COLUMNS)
    for law in laws:
        for kk in (3.0, 4.0):
            tail = table[(table["law"] == law) & (table["denoiser"] == "law") & (table["k"] == kk)]
            assert tail["value"].tolist() == [h.tail_probability(study.law_of(law), kk)]
        for denoiser in ("exact", "ideal", "network"):
            for label, steps in (("ddpm_karras", 200), ("ddim_karras", 10)):
                sampler, grid = label.split("_")
                run = table[
                    (table["law"] == law)
                    & (table["denoiser"] == denoiser)
                    & (table["sampler"] == sampler)
                    & (table["steps"] == steps)
                ]
                assert sorted(run.loc[run["metric"] == "rate", "k"]) == [3.0, 4.0]
                assert (run["n"] == 200).all() and (run["grid"] == grid).all()
                x = arrays[f"{law}-{denoiser}-{label}-{steps}"]
                assert x.shape == (200, study.law_of(law).dim)
                rate = run[(run["metric"] == "rate") & (run["k"] == 4.0)]["value"].iloc[0]
                assert rate == np.mean(h.distance(study.law_of(law), x) > 4.0)
                if law != "modes":  # every hallucination sits along an axis or a diagonal
                    parts = run[run["metric"].isin(["lattice_axis", "lattice_diagonal"])]["value"]
                    assert parts.sum() == pytest.approx(rate, abs=1e-12)
    roll = table[table["law"] == "roll"]
    assert set(roll["metric"]) <= {"rate", "auc", "removed"} and "rate" in set(roll["metric"])
    assert (roll["k"] == 0.01).all()
    x = arrays["roll-network-heun_karras-6"]
    assert roll.loc[roll["metric"] == "rate", "value"].iloc[0] == np.mean(
        from_config(ROLL).distance(x) > 0.01
    )
    for window in (study.LAST, "mid"):  # late holds one grid time of the roll here: not scored
        assert arrays[f"roll-network-heun_karras-6-score-{window}"].shape == (100,)


def test_the_ideal_denoiser_copies_its_training_points():
    """DDPM with the ideal denoiser of the first ``ideal_points`` training
    points ends on them, up to its last step's noise (std: the level 1e-4
    where the grid stops): every sample within 5 of that std of a training
    point (a 2-D chi beyond 5 has probability exp(-12.5) = 4e-6 per sample),
    i.e. within 0.03 of a mode's std: the finite data alone copies, it does
    not interpolate."""
    params = spec(samplers=[{"name": "ddpm", "grid": "karras", "steps": 200}], n_samples=200)
    _, arrays = study.run(params, "ideal", {}, exact_networks(["grid"], 5.0))
    train = study.train_set(params, "ideal", "grid")[: params["ideal_points"]]
    x = arrays["grid-ideal-ddpm_karras-200"]
    gap = np.linalg.norm(x[:, None] - train[None], axis=2).min(axis=1)
    level = params["sigma"] * np.sqrt(params["model"]["t_min"])
    assert gap.max() < 5 * level < 0.03 * h.grid_2d().stds[0]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"windows": {"mid": [0.3, 0.01]}},
            r"hallucination\.hall\.windows\.mid: \[0\.3, 0\.01\] is not increasing",
        ),
        (
            {"windows": {"w": [0.2, 0.21]}},
            r"hallucination\.hall\.windows\.w: .* fewer than 2 calls of ddpm_karras",
        ),
        (
            {"windows": {"last": [0.01, 0.3]}},
            r"hallucination\.hall\.windows: 'last' names the window of the last_calls",
        ),
        ({"k_tail": 5.0}, r"hallucination\.hall\.k_tail: 5\.0 above k = 4\.0"),
        ({"ideal_points": 5000}, r"hallucination\.hall\.ideal_points: 5000 above n_train"),
        ({"roll": {"network": "none"}}, r"hallucination\.hall\.roll\.network: no network 'none'"),
        (
            {"roll": {"sampler": "euler_karras"}},
            r"hallucination\.hall\.roll\.sampler: euler is not a diffusion",
        ),
    ],
)
def test_a_bad_section_is_refused_naming_its_key(change, message):
    cfg = load_test_config()
    section = cfg["hallucination"]["hall"]
    for key, value in change.items():
        section[key] = {**section[key], **value} if key == "roll" else value
    with pytest.raises(ConfigError, match=message):
        config.check_config(cfg)


def test_the_roll_needs_a_network_on_a_curve():
    cfg = load_test_config()
    cfg["networks"]["tinyroll"]["data"] = {"kind": "spiral", "n": 100, "turns": 2, "noise": 0.1}
    del cfg["fewstep"]  # which refuses the changed network first, for its own reason
    with pytest.raises(
        ConfigError, match=r"hallucination\.hall\.roll\.network: tinyroll learned data off a curve"
    ):
        config.check_config(cfg)


@pytest.mark.workflow
def test_the_workflow_runs_the_study(finished_run):
    """The test config's study: a network per law, its table (every law's
    tail and rates, the roll's detector) and its figure."""
    workdir, _ = finished_run
    spec = load_test_config()["hallucination"]["hall"]
    for law in spec["laws"]:
        assert (workdir / "results" / "studies" / "hall" / "models" / law / "denoiser.npz").is_file()
    table = pd.read_csv(workdir / "results" / "studies" / "hall" / "table.csv")
    assert list(table.columns) == list(study.COLUMNS)
    assert set(table["law"]) == {*spec["laws"], "roll"}
    assert set(table["denoiser"]) == {"law", "train", "exact", "ideal", "network"}
    rates = table[table["metric"] == "rate"]["value"]
    assert ((rates >= 0) & (rates <= 1)).all()
    assert (workdir / "results" / "figures" / "hall.jpg").stat().st_size > 10_000
