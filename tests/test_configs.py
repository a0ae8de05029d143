"""Every config the schema accepts runs, or is refused before any job.

Configs are drawn at random (a fixed seed: a failure reproduces) over data
kinds, processes, samplers, grids, step counts, sizes, references and studies;
each is validated by the schema, checked by ``config.check_config``, and
either refused there with a ConfigError naming a key, or run by the real
Snakemake to the end, every target made.
"""

import random

import pytest
import yaml
from conftest import REPO, snakemake, write_config
from snakemake.utils import validate

from stepdiff import config, studies
from stepdiff.grids import GRIDS
from stepdiff.network import TARGETS
from stepdiff.registry import SAMPLERS

pytestmark = pytest.mark.workflow

TINY_MODEL = {"hidden": 8, "layers": 1, "n_freqs": 2, "steps": 11, "batch_size": 32}


def data_section(rng: random.Random, dim: int):
    kind = rng.choice(
        ["gaussian", "point_masses", "swiss_roll", "spiral"] if dim == 2 else ["gaussian", "point_masses"]
    )
    if kind == "gaussian":
        mean = (
            rng.uniform(-2, 2)
            if dim == 1 and rng.random() < 0.5
            else [rng.uniform(-2, 2) for _ in range(dim)]
        )
        return {"kind": kind, "mean": mean, "std": rng.choice([0.3, 1.0])}
    if kind == "point_masses":
        points = [[rng.uniform(-3, 3) for _ in range(dim)] for _ in range(rng.randint(1, 3))]
        return {"kind": kind, "points": points}
    if kind == "swiss_roll":
        return {"kind": kind, "n": rng.choice([50, 200]), "noise": rng.choice([0.0, 0.1]), "scale": 0.07}
    return {"kind": kind, "n": 200, "turns": rng.choice([1, 3]), "noise": 0.1}


def samplers(rng: random.Random, process: str) -> list[dict]:
    names = [n for n, s in SAMPLERS.items() if process in s.processes]
    out = []
    for name in rng.sample(names, rng.randint(1, 3)):  # all of them: more jobs, not more cases
        steps = sorted(rng.sample([1, 2, 3, 5, 8], rng.randint(1, 2)))
        out.append({"name": name, "grid": rng.choice(GRIDS), "steps": steps if len(steps) > 1 else steps[0]})
    return out


def experiment(rng: random.Random, seed: int) -> dict:
    dim = rng.choice([1, 2])
    exp = {"seed": seed, "n_samples": rng.choice([20, 60]), "data": data_section(rng, dim)}
    if rng.random() < 0.5:
        exp["sigma"] = rng.choice([1.0, 5.0])
    else:
        ring = dim == 2 and rng.random() < 0.3
        exp["source"] = (
            {"kind": "annulus", "inner": 2.0, "outer": 3.0} if ring else {"kind": "gaussian", "std": 1.0}
        )
    no_exact = exp["data"]["kind"] == "spiral" and "source" in exp and exp["source"]["kind"] == "annulus"
    if no_exact or rng.random() < 0.3:
        exp["model"] = {**TINY_MODEL, "t_min": rng.choice([1e-4, 1e-2])}
        if rng.random() < 0.5:
            exp["reference"] = {"n_samples": rng.choice([10, exp["n_samples"]]), "max_steps": 5}
    exp["samplers"] = samplers(rng, "flow" if "source" in exp else "diffusion")
    return exp


def random_config(seed: int) -> dict:
    rng = random.Random(seed)
    exps = {f"e{i}": experiment(rng, i) for i in range(3)}
    cfg = {"experiments": exps}
    learned = [e for e, x in exps.items() if "model" in x]
    if learned and rng.random() < 0.7:
        cfg["comparisons"] = {"cmp": {"experiments": learned, "metric": "energy"}}
    if rng.random() < 0.5:
        roll = {"kind": "swiss_roll", "n": 64, "noise": 0.0, "scale": 0.07}
        cfg["memorisation"] = {
            "memo": {
                "data": roll,
                "sizes": [4, 64],
                "sigma": 1.0,
                "model": {**TINY_MODEL, "t_min": 1e-6},
                "samplers": [{"name": "ddim", "grid": "karras", "steps": 4}],
                "n_samples": 30,
                "seed": 1,
            }
        }
    if rng.random() < 0.5:
        gauss = {"kind": "gaussian", "mean": [1.0, 1.0], "std": 0.5}
        start = {
            "data": gauss,
            "sigmas": [1, 3.0],
            "sampler": "ddim_karras",
            "steps": 4,
            "n_samples": 40,
            "seed": 2,
        }
        if rng.random() < 0.5:
            start["model"] = dict(TINY_MODEL)
        cfg["starts"] = {"start": start}
    for exp in learned:  # the network's options, eps on flows included (refused: it divides by alpha_t = 0)
        model = exps[exp]["model"]
        model.update(target=rng.choice(TARGETS), octaves=rng.choice([0, 2]), ema=rng.choice([0.0, 0.9]))
    if rng.random() < 0.4:
        roll = {"kind": "swiss_roll", "n": 100, "noise": 0.0, "scale": 0.07}
        model = {**TINY_MODEL, "t_min": 1e-4}
        variants = {"eps": {"target": rng.choice(TARGETS)}, "wide": {"hidden": 12, "ema": 0.5}}
        cfg["training"] = {
            "recipes": {
                "data": roll,
                "sigma": rng.choice([1.0, 80.0]),
                "model": model,
                "variants": variants,
                "sampler": rng.choice(["heun_karras", "dpmpp_2m_logsnr", "ddim"]),
                "steps": 3,
                "n_samples": 30,
                "seed": 3,
            }
        }
    if rng.random() < 0.4:
        cfg["orders"] = {
            "orders": {
                "data": {"kind": "gaussian", "mean": 1.0, "std": 0.5},
                "sigma": 2.0,
                "source": {"kind": "gaussian", "std": 1.0},
                "methods": rng.sample([n for n, s in SAMPLERS.items() if not s.stochastic], 2),
                "grids": rng.sample(list(GRIDS), 2),
                "steps": [4, 8, 16, 32],
            }
        }
    if rng.random() < 0.3:
        mix = {"kind": "gaussian_mixture", "n": 100, "means": [[-1.0, 0.0], [1.0, 0.5]], "stds": 0.3}
        sets = {"mix": {"data": mix, "sigma": rng.choice([1.0, 20.0])}}
        sets["flow"] = {"data": dict(mix), "source": {"kind": "gaussian", "std": 1.0}, "learned": False}
        cfg["likelihood"] = {"lik": {"sets": sets, "model": dict(TINY_MODEL), "steps": 4, "n_samples": 30}}
        cfg["likelihood"]["lik"].update(map_size=6, seed=4)
    if rng.random() < 0.3:
        model = {**TINY_MODEL, "embed": 2, "lr": 0.003, "p_null": 0.2, "n_train": 100}
        ring = {"classes": 3, "radius": 2.0, "std": 0.4, "label": rng.choice([0, 2])}
        gauss = {
            "label": 1.0,
            "std": 0.5,
            "label_std": 1.0,
            "scales": [0, 2],
            "samplers": samplers(rng, "diffusion"),
        }
        cfg["guidance"] = {
            "guide": {
                "seed": 5,
                "sigma": 5.0,
                "t_min": 1e-3,
                "scales": [0, 1, 3],
                "n_samples": 30,
                "grid_cells": 30,
                "samplers": [
                    {"name": rng.choice(["ddim", "ddpm", "heun", "unipc"]), "grid": "karras", "steps": 4}
                ],
                "ring": ring,
                "gaussian": gauss,
                "model": model,
            }
        }
    if rng.random() < 0.4:  # the few-step study: students of a tiny roll network's map, and moons flows
        roll = {"kind": "swiss_roll", "n": 100, "noise": 0.0, "scale": 0.07}
        cfg["networks"] = {
            "tiny": {"data": roll, "seed": 3, "levels": [0.01, 100.0], "model": dict(TINY_MODEL)}
        }
        moons = {"scale": 5.0, "var": 0.1, "noise": 0.2, "n_train": 64, "n_samples": 20, "seeds": 1}
        moons.update(ot_batch=rng.choice([8, 64]), model={**TINY_MODEL, "t_min": 1e-3})
        teacher = {"sampler": rng.choice(["unipc_logsnr", "heun", "euler_sigma", "ddim"]), "steps": 3}
        cfg["fewstep"] = {
            "few": {
                "data": roll,
                "network": "tiny",
                "teacher": teacher,
                "pairs": 64,
                "model": dict(TINY_MODEL),
                "student": dict(TINY_MODEL),
                "renoise": 0.05,
                "euler": [1, 2],
                "moons": moons,
                "path_steps": 2,
                "n_samples": 20,
                "seed": 6,
            }
        }
    if rng.random() < 0.4:  # the hallucination study: one law, a tiny network, one window
        cfg["hallucination"] = {
            "hall": {
                "laws": rng.sample(["grid", "rotated", "modes"], 1),
                "sigma": 5.0,
                "n_train": 100,
                "ideal_points": 5,
                "model": {**TINY_MODEL, "t_min": 1e-8},
                "samplers": [{"name": rng.choice(["ddpm", "ddim", "heun"]), "grid": "karras", "steps": 20}],
                "k": 4.0,
                "k_tail": 3.0,
                "windows": {"mid": [0.01, 1.0]},
                "last_calls": 2,
                "kept": 0.96,
                "n_samples": 20,
                "seed": 7,
            }
        }
    return cfg


SCHEMA = REPO / "config" / "schema.yaml"
SEEDS = range(7, 11)  # a window whose configs cover the space (test_the_generator_covers_the_space)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_config_runs_or_is_refused_before_any_job(tmp_path, seed):
    cfg = random_config(seed)
    validate(yaml.safe_load(yaml.safe_dump(cfg)), str(SCHEMA))  # the generator writes schema-valid configs
    path = write_config(tmp_path / "config.yaml", cfg)
    try:
        config.check_config(validated(cfg))
    except config.ConfigError as error:
        # refused: Snakemake must refuse it too, before any job, naming the same key
        proc = snakemake(tmp_path, "--cores", "2", config=path, check=False)
        assert proc.returncode != 0 and str(error).split(":")[0] in proc.stdout + proc.stderr
        assert not (tmp_path / "results").exists()
        return
    snakemake(tmp_path, "--cores", "2", config=path)
    assert (tmp_path / "results" / "figures").is_dir()
    for name in cfg["experiments"]:
        assert (tmp_path / "results" / "figures" / f"{name}.jpg").stat().st_size > 0
        assert (tmp_path / "results" / "metrics" / f"{name}.csv").stat().st_size > 0


def validated(cfg: dict) -> dict:
    """The config as the workflow sees it: the schema's defaults filled in."""
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    validate(cfg, str(SCHEMA))
    return cfg


def test_the_generator_covers_the_space():
    """The drawn configs cover every data kind, both processes, every sampler
    and grid, learned and exact experiments, references and every study, and
    most of them run (a generator whose configs are all refused tests nothing)."""
    cfgs = [random_config(seed) for seed in SEEDS]
    exps = [e for c in cfgs for e in c["experiments"].values()]
    assert {e["data"]["kind"] for e in exps} == {"gaussian", "point_masses", "swiss_roll", "spiral"}
    assert {s["name"] for e in exps for s in e["samplers"]} == set(SAMPLERS)
    assert {s["grid"] for e in exps for s in e["samplers"]} == set(GRIDS)
    assert any("model" in e for e in exps) and any("model" not in e for e in exps)
    assert any("reference" in e for e in exps) and any("source" in e for e in exps)
    assert any(e.get("source", {}).get("kind") == "annulus" for e in exps)
    assert all(any(s in c for c in cfgs) for s in ("comparisons", *studies.SECTIONS))
    models = [e["model"] for e in exps if "model" in e]
    assert {m["target"] for m in models} == set(TARGETS) and {m["octaves"] for m in models} == {0, 2}
    accepted = 0
    for c in cfgs:
        try:
            config.check_config(validated(c))
            accepted += 1
        except config.ConfigError:
            pass
    assert accepted >= len(cfgs) - 2
