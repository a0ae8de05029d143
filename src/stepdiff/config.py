"""Turn the workflow config into jobs; pure Python so Snakemake can import it.

The JSON schema (``config/schema.yaml``) checks types and ranges; the checks
here are the ones a schema cannot express (matching list lengths, duplicate
sampler runs). Every error names the config key it is about.
"""

from __future__ import annotations

import zlib

SAMPLERS = ("ddpm", "ddim")
GRIDS = ("uniform", "sigma", "karras")
DEFAULT_GRID = "uniform"


class ConfigError(ValueError):
    """A config value that the schema accepts but the experiments cannot use."""


def run_label(sampler: str, grid: str = DEFAULT_GRID) -> str:
    """File-name label of a sampler run: ``ddim`` or ``ddim_karras``."""
    return sampler if grid == DEFAULT_GRID else f"{sampler}_{grid}"


def parse_label(label: str) -> tuple[str, str]:
    """Inverse of :func:`run_label`."""
    sampler, _, grid = label.partition("_")
    grid = grid or DEFAULT_GRID
    if sampler not in SAMPLERS or grid not in GRIDS:
        raise ConfigError(
            f"sampler label {label!r}: expected one of {SAMPLERS}, optionally "
            f"followed by _<grid> with grid in {GRIDS[1:]}"
        )
    return sampler, grid


def label_pattern() -> str:
    """Regex for the ``{sampler}`` wildcard, built from the known names."""
    grids = "|".join(g for g in GRIDS if g != DEFAULT_GRID)
    return f"({'|'.join(SAMPLERS)})(_({grids}))?"


def as_list(steps) -> list[int]:
    return list(steps) if isinstance(steps, list) else [steps]


def sampler_runs(exp: dict) -> list[tuple[str, int]]:
    """All (label, steps) sampler configurations of one experiment."""
    return [
        (run_label(s["name"], s.get("grid", DEFAULT_GRID)), n)
        for s in exp["samplers"]
        for n in as_list(s["steps"])
    ]


def is_learned(exp: dict) -> bool:
    """Experiments with a ``model`` section sample with a trained network."""
    return "model" in exp


def check_config(config: dict) -> None:
    """Semantic checks that JSON schema cannot express; raise ConfigError."""
    for name, exp in config["experiments"].items():
        key = f"experiments.{name}"
        data = exp["data"]
        if data["kind"] == "point_masses":
            dims = {len(p) for p in data["points"]}
            if len(dims) != 1:
                raise ConfigError(f"{key}.data.points: all points need the same dimension")
            if "weights" in data and len(data["weights"]) != len(data["points"]):
                raise ConfigError(
                    f"{key}.data.weights: {len(data['weights'])} weights for {len(data['points'])} points"
                )
        if data["kind"] == "swiss_roll" and not is_learned(exp):
            raise ConfigError(f"{key}.model: swiss_roll data needs a model section")
        runs = sampler_runs(exp)
        seen = set()
        for run in runs:
            if run in seen:
                raise ConfigError(f"{key}.samplers: {run[0]} with {run[1]} steps is listed twice")
            seen.add(run)


def job_seed(seed: int, *keys) -> list[int]:
    """Entropy for ``numpy.random.default_rng``: the config seed plus stable
    hashes of the job's wildcards, so a job's draws do not depend on which
    other jobs ran (Python's ``hash`` is salted per process; crc32 is not)."""
    return [int(seed)] + [zlib.crc32(str(k).encode()) for k in keys]


def final_runs(exp: dict, uniform_only: bool = False) -> list[tuple[str, int]]:
    """Each sampler label at its largest step count (optionally only the
    tutorial's uniform grid): the runs that figures and references show."""
    best: dict[str, int] = {}
    for label, steps in sampler_runs(exp):
        if uniform_only and parse_label(label)[1] != DEFAULT_GRID:
            continue
        best[label] = max(best.get(label, 0), steps)
    if uniform_only and not best:  # no run on the uniform grid: show the others
        return final_runs(exp)
    return list(best.items())


def reference_size(exp: dict) -> int:
    """Samples drawn with the exact denoiser for a learned experiment."""
    return exp.get("reference", {}).get("n_samples", 2000)
