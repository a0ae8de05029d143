"""Names: the sampler registry and the labels of sampler runs, in pure Python.

What the workflow and the jobs need to know of a sampler by name (which
process it serves, whether it is stochastic) lives here, so that a sampling
job reaches the samplers' code and the names, and a data or training job
reaches neither. A sampler's function is ``sampling.sample_<name>``; what it
costs (NFE) is counted (``runner.count_nfe``), never declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .grids import GRIDS

DEFAULT_GRID = "uniform"


class ConfigError(ValueError):
    """A config value that the schema accepts but the experiments cannot use."""


@dataclass(frozen=True)
class Sampler:
    """What the workflow needs to know of a sampler (its function is
    ``sampling.sample_<name>``)."""

    processes: tuple[str, ...]  # "diffusion", "flow"
    colour: str  # its colour in every figure (a matplotlib name; no two samplers share one)
    stochastic: bool = False  # fresh noise each step: the output is not a function of the start


SAMPLERS = {
    "ddpm": Sampler(("diffusion",), "tab:red", stochastic=True),
    "ddim": Sampler(("diffusion",), "tab:blue"),
    "euler": Sampler(("flow",), "tab:cyan"),
    "heun": Sampler(("diffusion", "flow"), "tab:green"),
    "dpmpp_2m": Sampler(("diffusion", "flow"), "tab:orange"),
    "dpmpp_3m": Sampler(("diffusion", "flow"), "tab:brown"),
    "unipc": Sampler(("diffusion", "flow"), "tab:purple"),
}


def run_label(sampler: str, grid: str = DEFAULT_GRID) -> str:
    """File-name label of a sampler run: ``ddim`` or ``ddim_karras``."""
    return sampler if grid == DEFAULT_GRID else f"{sampler}_{grid}"


def parse_label(label: str) -> tuple[str, str]:
    """Inverse of :func:`run_label`. Names may hold an underscore
    (``dpmpp_2m_karras``), so the label is matched against the known names,
    longest first, never split at its first ``_``; ``<sampler>_uniform`` is
    read as ``<sampler>``, as before."""
    for sampler in sorted(SAMPLERS, key=len, reverse=True):
        if label == sampler:
            return sampler, DEFAULT_GRID
        grid = label[len(sampler) + 1 :]
        if label.startswith(f"{sampler}_") and grid in GRIDS:
            return sampler, grid
    raise ConfigError(
        f"sampler label {label!r}: expected one of {list(SAMPLERS)}, optionally "
        f"followed by _<grid> with grid in {list(GRIDS[1:])}"
    )


def sampler_of(label: str, process: str, key: str) -> tuple[str, str]:
    """``(sampler, grid)`` of the run label a config ``key`` names; refused,
    naming the key, when it is no label or its sampler does not serve the
    ``process`` kind (``"diffusion"`` or ``"flow"``)."""
    try:
        sampler, grid = parse_label(label)
    except ConfigError as error:
        raise ConfigError(f"{key}: {error}") from None
    if process not in SAMPLERS[sampler].processes:
        raise ConfigError(f"{key}: {sampler} is not a {process} sampler")
    return sampler, grid


def network_entry(config: dict, name: str, key: str) -> dict:
    """The ``networks`` entry a config ``key`` names; refused, naming the key
    and the entries there are, when there is none."""
    networks = config.get("networks", {})
    if name not in networks:
        raise ConfigError(f"{key}: no network {name!r}; the networks section has {sorted(networks)}")
    return networks[name]


def run_of(key: str) -> tuple[str, int]:
    """(label, steps) from a ``{label}-{steps}`` key (or a file named so)."""
    label, steps = key.rsplit("/", 1)[-1].split(".", 1)[0].rsplit("-", 1)
    return label, int(steps)


def label_pattern() -> str:
    """Regex for the ``{sampler}`` wildcard, built from the known names."""
    grids = "|".join(g for g in GRIDS if g != DEFAULT_GRID)
    names = "|".join(re.escape(s) for s in sorted(SAMPLERS, key=len, reverse=True))
    return f"({names})(_({grids}))?"


def as_list(steps) -> list[int]:
    return list(steps) if isinstance(steps, list) else [steps]


def sampler_runs(exp: dict) -> list[tuple[str, int]]:
    """All (label, steps) sampler configurations of one experiment or study."""
    return [
        (run_label(s["name"], s.get("grid", DEFAULT_GRID)), n)
        for s in exp["samplers"]
        for n in as_list(s["steps"])
    ]


def start_key(sigma) -> str:
    """The folder of a start study's network at noise scale ``sigma``."""
    return f"sigma{sigma:g}"
