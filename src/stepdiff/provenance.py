"""Which library code a workflow script runs, and a fingerprint of it.

Snakemake reruns a job when its script changes, not when a module that the
script imports does. Each rule therefore carries, as a param, a hash of the
``stepdiff`` modules its script reaches (imports followed transitively,
function-level imports included: they run when the rule does), so editing
``plots.py`` makes figures stale and nothing else. The hash is of each
module's syntax tree without its docstrings: comments, docstrings and
formatting change no result, so they rerun nothing. Pure Python: the
Snakefile imports it.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _imported_names(path: Path) -> list[str]:
    """Absolute dotted names of every import in a file (relative ones resolved in stepdiff)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = f"stepdiff.{node.module}" if node.level and node.module else node.module
            base = base or "stepdiff"
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


@cache
def reach(path: Path) -> tuple[frozenset[Path], frozenset[str]]:
    """(stepdiff module files, third-party top-level modules) that ``path`` imports, transitively."""
    modules: set[Path] = set()
    third_party: set[str] = set()
    todo, seen = [Path(path).resolve()], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imported_names(current):
            parts = name.split(".")
            if parts[0] == "stepdiff":
                module = PACKAGE / f"{parts[1] if len(parts) > 1 else '__init__'}.py"
                if module.exists():
                    modules.add(module)
                    todo.append(module)
            elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                third_party.add(parts[0])
    return frozenset(modules), frozenset(third_party)


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def normalised(source: str) -> str:
    """What of a module's source can change a result: its syntax tree
    (``ast.dump`` keeps no comments, layout or line numbers) without the
    docstrings of the module, its classes and its functions."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, _DOCUMENTED) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def fingerprint(script) -> str:
    """sha256 over the names and normalised sources of the library modules a script reaches."""
    digest = hashlib.sha256()
    for module in sorted(reach(Path(script))[0]):
        digest.update(module.name.encode() + b"\0" + normalised(module.read_text()).encode() + b"\0")
    return digest.hexdigest()[:16]
