"""No module imports one above it: the library's modules in tiers, each
importing (at module level or inside a function) only from tiers below.
Every study module (``studies/*``) sits in one tier: a new study is not listed."""

import subprocess
import sys
from fnmatch import fnmatch

from stepdiff.provenance import PACKAGE, _imported_names, _module_file

TIERS = [
    # leaves: pure helpers, the processes, the curve's quadrature, the studies' and the jobs' index
    ["grids", "seeds", "io", "curve", "process", "provenance", "tables", "errors"],
    ["studies/__init__", "jobs/__init__"],
    ["registry", "data"],  # names; data laws
    # samplers; the network in numpy; log q; guided laws; mode interpolation
    ["sampling", "network", "likelihood", "guidance", "hallucination"],
    # distances and floors; running a sampler configuration; training
    ["metrics", "runner", "learn"],
    ["laws"],  # exact output laws on Gaussian data
    # a run's scores; straight paths and couplings; animations; figures
    ["scores", "transport", "animate", "plots"],
    ["jobs/*"],  # the workflow layer: each kind of experiment job (its __init__ imports nothing)
    ["studies/*"],  # each study: its networks, runs, table, figure
    ["config", "captions"],  # the workflow's view of the config; the report's captions with their tables
]


def tier_of(name: str) -> int:
    return next(i for i, names in enumerate(TIERS) for pattern in names if fnmatch(name, pattern))


def test_every_module_has_a_tier_and_imports_only_from_tiers_below():
    found = {p.relative_to(PACKAGE).with_suffix("").as_posix() for p in PACKAGE.rglob("*.py")} - {"__init__"}
    listed = {n for names in TIERS for n in names if "*" not in n}
    assert listed <= found, f"tiers name modules that do not exist: {listed - found}"
    for name in sorted(found):
        level = tier_of(name)
        path = PACKAGE / f"{name}.py"
        for imported in _imported_names(path):
            target = _module_file(imported) if imported.startswith("stepdiff") else None
            if target is None or target == path or target == PACKAGE / "__init__.py":
                continue
            other = target.relative_to(PACKAGE).with_suffix("").as_posix()
            assert tier_of(other) < level, f"{name} (tier {level}) imports {other} (tier {tier_of(other)})"


# What reading the Snakefile costs: every Snakemake process reads it (a dry run,
# each Slurm job's own two), so what it imports must start fast.
SNAKEFILE_IMPORTS = """
import sys, yaml
from snakemake.utils import validate
from stepdiff import config, provenance, registry, studies
for section in studies.SECTIONS:
    studies.module(section)
for path in sys.argv[2:]:
    cfg = yaml.safe_load(open(path))
    validate(cfg, sys.argv[1])  # fills in the schema's defaults, as the Snakefile does
    config.check_config(cfg)
heavy = ("torch", "matplotlib", "sklearn", "pandas", "scipy")
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def test_reading_the_workflow_imports_no_heavy_library():
    """The modules the Snakefile imports, every study module (its checks) and
    the config check of the repo's and the test's configs load none of torch,
    matplotlib, scikit-learn, pandas or scipy (scipy.optimize alone took 0.4 s):
    those belong inside the functions that jobs run."""
    repo = PACKAGE.parents[1]
    configs = [repo / "config/schema.yaml", repo / "config/config.yaml", repo / ".test/config/config.yaml"]
    out = subprocess.run([sys.executable, "-c", SNAKEFILE_IMPORTS, *configs], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []
