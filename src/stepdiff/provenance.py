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


def _package_of(path: Path) -> list[str]:
    """The dotted package of a file inside stepdiff (``["stepdiff", "studies"]``),
    or ``["stepdiff"]`` for a file outside it (a workflow script)."""
    try:
        return ["stepdiff", *path.resolve().parent.relative_to(PACKAGE).parts]
    except ValueError:
        return ["stepdiff"]


def _absolute(node, path: Path) -> list[str]:
    """Absolute dotted names an import node brings (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        package = _package_of(path)
        package = package[: len(package) - (node.level - 1)] or ["stepdiff"]
        base = ".".join(package + ([node.module] if node.module else []))
    else:
        base = node.module
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _module_file(name: str) -> Path | None:
    """The file of a dotted stepdiff name (a module or a package), if there is one."""
    parts = name.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts, "__init__.py")):
        if parts and candidate.exists():
            return candidate
    return PACKAGE / "__init__.py" if not parts else None


def _packages(name: str) -> list[Path]:
    """The ``__init__.py`` of each package above a dotted stepdiff name: Python
    runs them all when it imports the name (``stepdiff.jobs.sample`` runs
    ``stepdiff/__init__.py`` and ``stepdiff/jobs/__init__.py``)."""
    parts = name.split(".")
    inits = [PACKAGE.joinpath(*parts[1:i], "__init__.py") for i in range(1, len(parts))]
    return [p for p in inits if p.exists()]


@cache  # every rule's fingerprint walks the same modules: parse each once (not to be changed)
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


@cache
def _imported_names(path: Path) -> tuple[str, ...]:
    """Absolute dotted names of every import in a file."""
    names = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names += _absolute(node, path)
    return tuple(names)


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
                module = _module_file(name)
                for found in [*_packages(name), *([module] if module is not None else [])]:
                    modules.add(found)
                    todo.append(found)
            elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                third_party.add(parts[0])
    return frozenset(modules), frozenset(third_party)


@cache
def function_reach(path: Path, function) -> frozenset[Path]:
    """The stepdiff modules that one function of a module runs (or several:
    a tuple of names, those the module defines): those whose imported names
    its body (and the module's functions it calls) uses, its own imports, and
    what they reach in turn. A study job runs one function of its study
    module (and the module's optional hooks); what the module's other
    functions import is not its code."""
    path = Path(path).resolve()
    tree = _tree(path)
    imported: dict[str, str] = {}  # a module-level name -> the dotted name it was imported as
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = _absolute(node, path)[0]
            imported.update({a.asname or a.name: f"{base}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            imported.update({a.asname or a.name.split(".")[0]: a.name for a in node.names})
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    wanted = (function,) if isinstance(function, str) else tuple(function)
    names, todo, seen = set(), [f for f in wanted if f in functions], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(functions[current]):
            if isinstance(node, ast.Name):
                if node.id in imported:
                    names.add(imported[node.id])
                if node.id in functions:
                    todo.append(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update(_absolute(node, path))
    # a name is a module (from .. import process) or a name in one (from ..data import from_config)
    files = {
        f
        for name in names
        if name.startswith("stepdiff") and (f := _module_file(name) or _module_file(name.rsplit(".", 1)[0]))
    }
    files |= {f for name in names if name.startswith("stepdiff") for f in _packages(name)}
    return frozenset(files.union(*(reach(f)[0] for f in files)))


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@cache  # keyed by the source itself: every rule's fingerprint parses the same modules
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


def fingerprint(script, module=None, function=None) -> str:
    """sha256 over the names and normalised sources of the library modules a
    script reaches; with ``module`` (a file the script loads by name, as a
    study module) also that module and what its ``function`` runs."""
    reached = set(reach(Path(script))[0])
    if module is not None:
        reached |= function_reach(Path(module), function) | {Path(module).resolve()}
    digest = hashlib.sha256()
    for module in sorted(reached):
        digest.update(module.name.encode() + b"\0" + normalised(module.read_text()).encode() + b"\0")
    return digest.hexdigest()[:16]
