"""Memorisation (docs/theory.md section 11): the ideal denoiser copies its training
set, the metric counts copies exactly, and a study's table says so."""

import numpy as np
import pytest

from stepdiff import process, runner
from stepdiff.data import from_config, point_masses
from stepdiff.seeds import rng_for
from stepdiff.studies import memorisation


def brute_memorised(x, train):
    count = 0
    for p in x:
        d = sorted(np.linalg.norm(p - q) for q in train)
        count += d[0] < d[1] / 3
    return count / len(x)


def study_spec(sizes, t_min, steps, n_samples, seed):
    """A memorisation study's section: the roll, DDIM and DDPM on the karras grid."""
    samplers = [{"name": name, "grid": "karras", "steps": steps} for name in ("ddim", "ddpm")]
    roll = {"kind": "swiss_roll", "n": max(sizes), "noise": 0.0, "scale": 0.07}
    return {
        "data": roll,
        "sizes": sizes,
        "sigma": 1.0,
        "model": {"t_min": t_min},
        "samplers": samplers,
        "n_samples": n_samples,
        "seed": seed,
    }


def test_memorised_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    train = rng.uniform(-1, 1, (12, 2))
    # half the samples sit near a training point, half anywhere
    near = train[rng.integers(12, size=40)] + 0.01 * rng.standard_normal((40, 2))
    x = np.concatenate([near, rng.uniform(-1, 1, (40, 2))])
    assert memorisation.memorised(x, train) == brute_memorised(x, train)
    assert memorisation.memorised(train, train) == 1.0  # a training point is its own copy


def test_the_ideal_denoiser_returns_a_training_point_as_t_goes_to_zero():
    """The posterior mean of a finite set under small noise is the nearest
    point (exactly, once the other weights underflow), and DDIM down to a
    small t lands every sample on a training point."""
    rng = np.random.default_rng(1)
    train = rng.uniform(-1, 1, (20, 2))
    proc = process.Diffusion(1.0)
    ideal = process.exact_denoiser(proc, point_masses(train))
    x = train + 1e-3 * rng.standard_normal(train.shape)
    np.testing.assert_array_equal(ideal(x, 1e-12), train)
    x1 = proc.source(500, 2, rng)
    out = runner.run(ideal, proc, "ddim_karras", 50, x1, t_min=1e-10)
    nearest = np.min(np.linalg.norm(out[:, None] - train[None], axis=2), axis=1)
    assert nearest.max() < 1e-9
    assert memorisation.memorised(out, train) == 1.0


def test_crossing_interpolates_in_log_n():
    assert memorisation.crossing([10, 100], [0.9, 0.1]) == pytest.approx(np.sqrt(10 * 100))
    assert memorisation.crossing([100, 10, 1000], [0.4, 0.6, 0.1]) == pytest.approx(10 * 10**0.5)
    assert memorisation.crossing([10, 100], [0.4, 0.1]) is None  # never above one half


def test_a_study_table_has_every_run_and_the_chance_level(tmp_path):
    """A tiny study with an identity 'network': the ideal denoiser memorises
    both training sets; the fresh draw gives the chance level for each."""
    # sigma_t 1e-7 at t_min: below the closest pair of 50 points
    spec = study_spec(sizes=[5, 50], t_min=1e-14, steps=30, n_samples=300, seed=0)
    roll = from_config(spec["data"])
    train, test = roll.sample(50, rng_for(0, "t", "train")), roll.sample(300, rng_for(0, "t", "test"))
    identity = {size: (lambda x, t: x) for size in spec["sizes"]}
    rows, samples = memorisation.study_rows(spec, "t", train, test, identity)
    assert set(samples) == {
        f"{d}-n{n}-{s}-30"
        for d in ("ideal", "learned")
        for n in (5, 50)
        for s in ("ddim_karras", "ddpm_karras")
    }
    value = {(r["size"], r["sampler"], r["denoiser"], r["metric"]): r["value"] for r in rows}
    for size in (5, 50):
        assert value[(size, "ddim", "ideal", "memorised")] == 1.0
        # the identity returns the Gaussian start (std 1): far from the roll, rarely a copy
        assert value[(size, "ddim", "learned", "energy")] > 0.1
        assert 0 < value[(size, "none", "data", "memorised")] < 1
    # the identity returns each start unchanged: the starts do not depend on the size (only N changes)
    assert np.array_equal(samples["learned-n5-ddim_karras-30"], samples["learned-n50-ddim_karras-30"])


def test_the_ideal_and_the_learned_run_of_one_size_share_starts_and_noise():
    """The study compares, run by run, the ideal denoiser of N points with the
    network trained on them: the two must start from the same draws (and, for
    DDPM, take the same noise), or their difference mixes in sampling noise.
    With a "network" that is the ideal denoiser itself (another function
    object, the same arithmetic) every learned run must equal its ideal run
    bit for bit, for deterministic DDIM and for stochastic DDPM; a learned run
    drawn from its own start or noise seed differs everywhere."""
    spec = study_spec(sizes=[3, 40], t_min=1e-8, steps=8, n_samples=64, seed=5)
    roll = from_config(spec["data"])
    train, test = roll.sample(40, rng_for(5, "p", "train")), roll.sample(64, rng_for(5, "p", "test"))
    proc = process.Diffusion(1.0)
    networks = {size: process.exact_denoiser(proc, point_masses(train[:size])) for size in spec["sizes"]}
    rows, samples = memorisation.study_rows(spec, "p", train, test, networks)
    for size in spec["sizes"]:
        for label in ("ddim_karras", "ddpm_karras"):
            ideal, learned = samples[f"ideal-n{size}-{label}-8"], samples[f"learned-n{size}-{label}-8"]
            assert np.array_equal(ideal, learned), (size, label)
    # and so are their scores, row by row
    scores = {}
    for r in rows:
        if r["denoiser"] != "data":
            scores.setdefault(r["denoiser"], []).append((r["size"], r["sampler"], r["metric"], r["value"]))
    assert scores["ideal"] == scores["learned"]
