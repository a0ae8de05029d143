"""Static check: every third-party module a rule's code imports is in that rule's conda env."""

import re

import pytest
import yaml
from conftest import REPO

from stepdiff import provenance

# import name -> conda-forge package name
CONDA_NAME = {
    "sklearn": "scikit-learn",
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
    "yaml": "pyyaml",
    "PIL": "pillow",
}


def rules():
    """(rule, conda env path, script path) for every rule that runs a script."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            if script:
                assert conda, f"rule {name} runs a script without a conda env"
                found.append((name, (smk.parent / conda[1]).resolve(), (smk.parent / script[1]).resolve()))
    return found


def third_party_imports(path):
    """Top-level third-party modules a script imports, followed through the library."""
    return set(provenance.reach(path)[1])


def env_packages(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return {re.split(r"[ =<>]", d.strip())[0] for d in deps if isinstance(d, str)}


RULES = rules()


def test_every_computing_rule_was_found():
    names = {r[0] for r in RULES}
    assert {"make_data", "train", "sample_analytic", "sample_learned", "sample_reference", "figure"} <= names


@pytest.mark.parametrize("rule, env, script", RULES, ids=[r[0] for r in RULES])
def test_rule_env_lists_its_imports(rule, env, script):
    needed = {CONDA_NAME.get(m, m) for m in third_party_imports(script)}
    missing = needed - env_packages(env)
    assert not missing, f"rule {rule}: {env.name} lacks {sorted(missing)}"


def test_numpy_rules_do_not_import_torch():
    for rule, env, script in RULES:
        if env.name == "numpy.yaml":
            assert "torch" not in third_party_imports(script), rule
