"""Turn the workflow config into jobs; pure Python so Snakemake can import it.

The JSON schema (``config/schema.yaml``) checks types and ranges; the checks
here are the ones a schema cannot express (matching list lengths, duplicate
sampler runs). Every error names the config key it is about.
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path

from . import data, studies
from .grids import KARRAS_T_MIN, last_time
from .process import from_config as process_of
from .registry import DEFAULT_GRID, SAMPLERS, ConfigError, as_list, network_entry, parse_label, sampler_runs


def sweeps(exp: dict, runs=None) -> dict[str, list[int]]:
    """Each sampler label of an experiment with its step counts (of ``runs``,
    by default all its sampler runs): one sampling or reference job runs a
    label's whole sweep (a job costs about 0.8 CPU-s to start)."""
    out: dict[str, list[int]] = {}
    for label, steps in sampler_runs(exp) if runs is None else runs:
        out.setdefault(label, []).append(steps)
    return {label: sorted(steps) for label, steps in out.items()}


def is_learned(exp: dict) -> bool:
    """Experiments with a ``model`` section (or a shared ``network``) sample with a trained network."""
    return "model" in exp or "network" in exp


def shares_network(exp: dict) -> bool:
    """Experiments that sample with a network of the ``networks`` section, trained once for all."""
    return "network" in exp


def shared_model(exp: dict, net: dict) -> dict:
    """The model section of an experiment served by the shared network ``net``:
    its recipe, trained down to ``t_min``, the experiment's time at the
    network's smallest level (its grids stop there; docs/theory.md section 18)."""
    proc = process_of(exp)
    return {**net["model"], "t_min": float(proc.t_of_level(net["levels"][0]))}


def resolve_networks(config: dict) -> None:
    """Give each experiment that names a shared network its model section (the
    network's recipe and the experiment's t_min), so that every job and check
    reads an experiment's network one way; refuse a missing network. The
    schema refuses an experiment that gives both; this runs after it and
    again on every check, so a changed network is followed."""
    networks = config.get("networks", {})
    for name, net in networks.items():
        low, high = net["levels"]
        if not low < high:
            raise ConfigError(f"networks.{name}.levels: [{low}, {high}] is not increasing")
        if "n" not in net["data"]:
            raise ConfigError(f"networks.{name}.data.n: the size of the network's training set is required")
        if net["model"].get("target") == "eps":
            raise ConfigError(f"networks.{name}.model.target: eps cannot serve a flow (alpha_t = 0 at t = 1)")
    for e, exp in config["experiments"].items():
        if "network" not in exp:
            continue
        net = network_entry(config, exp["network"], f"experiments.{e}.network")
        if ("sigma" in exp) == ("source" in exp):
            continue  # refused by check_config, naming the key
        exp["model"] = shared_model(exp, net)  # the schema refuses both given


def process_kind(exp: dict) -> str:
    """``flow`` for an experiment with a ``source`` section, else ``diffusion``."""
    return "flow" if "source" in exp else "diffusion"


def has_exact_denoiser(exp: dict) -> bool:
    """A law with an analytic posterior mean (``posterior_mean``: Gaussian
    mixtures, laws on a curve) has an exact denoiser under diffusion and under
    a flow from a Gaussian source (docs/theory.md sections 4, 8, 12)."""
    gaussian_source = exp.get("source", {}).get("kind", "gaussian") == "gaussian"
    return gaussian_source and hasattr(data.from_config(exp["data"]), "posterior_mean")


def has_noise_floor(exp: dict) -> bool:
    """Point masses are scored by distances to the masses, which need no floor."""
    return exp["data"]["kind"] != "point_masses"


def has_reference(exp: dict) -> bool:
    """Learned experiments are sampled again with the exact denoiser, where one exists."""
    return is_learned(exp) and has_exact_denoiser(exp)


def data_dim(section: dict) -> int:
    """The dimension of the law a ``data`` section describes."""
    return data.from_config(section).dim


def output_names(config: dict) -> dict[str, str]:
    """Each name that a figure or animation is named after, with the config
    key it comes from: an experiment's figures are ``{e}``, ``{e}_steps`` and
    ``{e}_error``; a comparison's and a study's figure are its name. They
    share ``results/figures/`` (a study's other outputs have their own root,
    ``results/studies/``)."""
    names: dict[str, str] = {}
    sections = [(e, "experiments") for e in config["experiments"]]
    sections += [(n, s) for s in ("comparisons", *studies.SECTIONS) for n in config.get(s, {})]
    for name, section in sections:
        own = [name, f"{name}_steps", f"{name}_error"] if section == "experiments" else [name]
        for out in own:
            if out in names:
                raise ConfigError(
                    f"{section}.{name}: its outputs would be named {out!r}, as those of {names[out]}; "
                    "rename one of them"
                )
            names[out] = f"{section}.{name}"
    return names


def check_config(config: dict) -> None:
    """Semantic checks that JSON schema cannot express; raise ConfigError.
    First gives experiments that name a shared network its model (:func:`resolve_networks`)."""
    resolve_networks(config)
    output_names(config)
    for section in studies.SECTIONS:
        for name, spec in config.get(section, {}).items():
            key = f"{section}.{name}"
            studies.module(section).check(spec, key, config)
            if "samplers" in spec:
                check_samplers(spec, key, "diffusion")
                if "model" in spec:
                    check_trained_range(spec, key)
    for name, spec in config.get("comparisons", {}).items():
        for e in spec["experiments"]:
            if e not in config["experiments"]:
                raise ConfigError(f"comparisons.{name}.experiments: no experiment {e!r}")
            if spec["metric"].startswith("curve_") and curve_threshold(config["experiments"][e]) is None:
                raise ConfigError(
                    f"comparisons.{name}.metric: {spec['metric']} needs data on a curve (swiss_roll or "
                    f"spiral, noise 0); {e} has {config['experiments'][e]['data']['kind']} data"
                )
    for name, exp in config["experiments"].items():
        key = f"experiments.{name}"
        section = exp["data"]
        check_data(section, f"{key}.data")
        if ("sigma" in exp) == ("source" in exp):
            raise ConfigError(f"{key}: give either sigma (a diffusion) or source (a flow), not both")
        check_samplers(exp, key, process_kind(exp))
        source = exp.get("source", {})
        if source.get("kind") == "annulus":
            if source["inner"] >= source["outer"]:
                raise ConfigError(f"{key}.source.inner: {source['inner']} is not below {source['outer']}")
            if data_dim(section) != 2:
                raise ConfigError(f"{key}.source.kind: an annulus is 2-D, the data {data_dim(section)}-D")
        if not has_exact_denoiser(exp) and not is_learned(exp):
            raise ConfigError(
                f"{key}.model: {section['kind']} data under this process has no exact denoiser: add a model"
            )
        runs = sampler_runs(exp)
        seen = set()
        for run in runs:
            if run in seen:
                raise ConfigError(f"{key}.samplers: {run[0]} with {run[1]} steps is listed twice")
            seen.add(run)
        n_reference = exp.get("reference", {}).get("n_samples")
        if n_reference is not None and n_reference > exp["n_samples"]:
            raise ConfigError(
                f"{key}.reference.n_samples: {n_reference} above n_samples = {exp['n_samples']} "
                "(the reference reruns the first of the learned run's starts)"
            )
        if is_learned(exp):
            check_trained_range(exp, key)
            if exp["model"].get("target") == "eps" and process_kind(exp) == "flow":
                raise ConfigError(
                    f"{key}.model.target: eps divides by alpha_t, which a flow's start t = 1 sets to 0; "
                    "use x0, v or x0_raw"
                )


def check_data(section: dict, key: str) -> None:
    """What the schema cannot check of a ``data`` section: a mixture's points
    (or means) share one dimension, and it has one weight (and std) each."""
    field = {"point_masses": "points", "gaussian_mixture": "means"}.get(section["kind"])
    if field is None:
        return
    points = section[field]
    if len({len(p) for p in points}) != 1:
        raise ConfigError(f"{key}.{field}: all {field} need the same dimension")
    for each in ("weights", "stds"):
        values = section.get(each)
        if isinstance(values, list) and len(values) != len(points):
            raise ConfigError(f"{key}.{each}: {len(values)} {each} for {len(points)} {field}")


def check_samplers(spec: dict, key: str, process: str) -> None:
    """Each sampler's name is in the registry (the schema leaves it to this
    check, so a new sampler is a function and a registry entry) and serves
    the process."""
    allowed = [n for n, s in SAMPLERS.items() if process in s.processes]
    for i, sampler in enumerate(spec["samplers"]):
        name = sampler["name"]
        if name not in SAMPLERS or process not in SAMPLERS[name].processes:
            raise ConfigError(
                f"{key}.samplers[{i}].name: {name!r} is not a {process} sampler; use one of {allowed}"
            )


def check_trained_range(exp: dict, key: str) -> None:
    """A network is trained down to ``model.t_min``: below it, it is an
    extrapolation that makes samples worse than no denoising at all. Every
    grid of a learned experiment must stop there before its last step to 0."""
    t_min = grid_floor(exp)
    for i, sampler in enumerate(exp["samplers"]):
        grid = sampler.get("grid", DEFAULT_GRID)
        for steps in as_list(sampler["steps"]):
            last = last_time(steps, grid, t_min)
            if last < t_min * (1 - 1e-9):
                raise ConfigError(
                    f"{key}.samplers[{i}].steps: {sampler['name']} on the {grid} grid with {steps} steps "
                    f"queries the network at t = {last:.3g}, below the trained range "
                    f"(model.t_min = {t_min:g}); use fewer steps, the karras grid, or a smaller model.t_min"
                )


def final_runs(exp: dict, uniform_only: bool = False, max_steps=None) -> list[tuple[str, int]]:
    """Each sampler label at its largest step count (optionally only the
    tutorial's uniform grid, or only counts up to ``max_steps``): the runs
    that figures and references show."""
    best: dict[str, int] = {}
    for label, steps in sampler_runs(exp):
        if (uniform_only and parse_label(label)[1] != DEFAULT_GRID) or (max_steps and steps > max_steps):
            continue
        best[label] = max(best.get(label, 0), steps)
    if uniform_only and not best:  # no run on the uniform grid: show the others
        return final_runs(exp)
    return list(best.items())


def reference_runs(exp: dict) -> list[tuple[str, int]]:
    """The runs sampled again with the exact denoiser: each sampler at its
    largest step count up to ``reference.max_steps``, or (``reference.runs:
    all``) at each of its step counts up to it; the exact denoiser of the
    Swiss roll costs about 1 CPU-s per 1000 samples and 50 steps."""
    if not has_reference(exp):
        return []
    reference = exp.get("reference", {})
    max_steps = reference.get("max_steps")
    if reference.get("runs") == "all":
        return [(label, n) for label, n in sampler_runs(exp) if not max_steps or n <= max_steps]
    return final_runs(exp, max_steps=max_steps)


def reference_size(exp: dict) -> int:
    """Samples drawn with the exact denoiser for a learned experiment: the
    first of the learned run's starts (2000 by default, at most n_samples)."""
    return exp.get("reference", {}).get("n_samples", min(2000, exp["n_samples"]))


def sample_sizes(exp: dict) -> list[int]:
    """Sizes of the sample sets an experiment evaluates (runs and references)."""
    sizes = {exp["n_samples"]}
    if has_reference(exp):
        sizes.add(reference_size(exp))
    return sorted(sizes)


def grid_floor(exp: dict) -> float:
    """Where the karras grid stops refining: the trained range's lower end for a
    learned experiment (its exact-denoiser reference runs on the same grid)."""
    return exp["model"].get("t_min", KARRAS_T_MIN) if is_learned(exp) else KARRAS_T_MIN


# Values derived from an experiment's config that its jobs read as if they
# were keys (a job module's ``KEYS`` names them beside the config's own keys).
def curve_threshold(exp: dict):
    """Where a sample counts as far from the curve, for data on a curve (its
    support: the roll or the spiral without blur); None for other data."""
    return exp.get("curve_threshold", 0.01) if data.on_curve(data.from_config(exp["data"])) else None


DERIVED = {
    "sizes": sample_sizes,
    "t_min": grid_floor,
    "n_reference": reference_size,
    "curve_threshold": curve_threshold,
}


def job_keys() -> dict[str, tuple[str, ...]]:
    """Job kind -> the keys it reads: each job module's literal ``KEYS``
    (``stepdiff/jobs/*.py``), read without importing the module."""
    keys: dict[str, tuple[str, ...]] = {}
    for path in sorted((Path(__file__).parent / "jobs").glob("[!_]*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["KEYS"]:
                keys.update({job: tuple(read) for job, read in ast.literal_eval(node.value).items()})
    return keys


JOB_KEYS = job_keys()


def canonical(value):
    """The same value with every mapping's keys sorted: key order in the YAML
    file (what a formatter changes) then never makes a job look stale."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def _read(keys, section: dict, derived: dict) -> dict:
    """The ``keys`` a job reads of a config section, canonical: a key of
    ``derived`` (key -> function of nothing) is computed, any other is the
    section's own (left out where the section has none)."""
    out = {}
    for key in sorted(keys):
        if key in derived:
            out[key] = canonical(derived[key]())
        elif key in section:
            out[key] = canonical(section[key])
    return out


def study_params(section: str, job: str, spec: dict, config: dict) -> dict:
    """What one job of a study reads of its section: the study module's
    ``KEYS[job]`` and ``DERIVED``, by the mechanism of :func:`job_params`."""
    mod = studies.module(section)
    return _read(mod.KEYS[job], spec, {k: partial(f, spec, config) for k, f in mod.DERIVED.items()})


def job_params(job: str, exp: dict) -> dict:
    """The part of an experiment's config that one kind of job reads (its
    module's ``KEYS``: ``JOB_KEYS``), canonical: a job's params hold
    exactly these (a test checks that the job reads all of them and nothing
    else), so editing a setting reruns the jobs that read it and no others."""
    return _read(JOB_KEYS[job], exp, {k: partial(f, exp) for k, f in DERIVED.items()})
