"""No module imports one above it: the library's modules in tiers, each
importing (at module level or inside a function) only from tiers below."""

from stepdiff.provenance import PACKAGE, _imported_names, _module_file

TIERS = [
    # leaves: pure helpers, the processes, the curve's quadrature, the studies' index
    ["grids", "seeds", "io", "curve", "process", "provenance", "tables", "errors", "studies/__init__"],
    ["registry", "data", "network"],  # names; data laws; the network in numpy
    # drawing data sets; samplers; training; log q; guided laws
    ["datasets", "sampling", "learn", "likelihood", "guidance"],
    ["metrics", "experiment"],  # distances and floors; an experiment's runs
    [
        "scores",
        "studies/start",
        "studies/memorisation",
        "studies/training",
        "studies/orders",
        "studies/likelihood",
        "studies/guidance",
        "animate",
    ],  # tables of runs; studies
    ["plots", "config"],  # figures; the workflow's view of the config
]


def test_every_module_has_a_tier_and_imports_only_from_tiers_below():
    tier = {name: i for i, names in enumerate(TIERS) for name in names}
    found = {p.relative_to(PACKAGE).with_suffix("").as_posix() for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert found == set(tier)
    for name, level in tier.items():
        path = PACKAGE / f"{name}.py"
        for imported in _imported_names(path):
            target = _module_file(imported) if imported.startswith("stepdiff") else None
            if target is None or target == path or target == PACKAGE / "__init__.py":
                continue
            other = target.relative_to(PACKAGE).with_suffix("").as_posix()
            assert tier[other] < level, f"{name} (tier {level}) imports {other} (tier {tier[other]})"
