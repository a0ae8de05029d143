"""Are two runs' arrays and tables the same, bit for bit?

Usage: python benchmarks/compare_runs.py BEFORE AFTER [--rename OLD=NEW ...]

BEFORE and AFTER are two finished runs' folders (each with results/ in it).
Compares every array (.npy, and each entry of .npz, models included) and
every table (.csv, value by value, and its columns) under results/data,
models, networks, runs, reference, metrics and studies; figures, logs and benchmarks are not
results. A table's columns may only be added to (a refactor may add a
column, as the memorisation table's crossing). ``--rename`` maps an output
that moved (``metrics/studies/memorisation.csv=studies/memorisation/table.csv``).
Exits 1 and lists what differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PARTS = ("data", "models", "networks", "runs", "reference", "metrics", "studies")


def outputs(root: Path) -> dict[str, Path]:
    results = root / "results"
    return {
        p.relative_to(results).as_posix(): p
        for part in PARTS
        for p in sorted((results / part).rglob("*"))
        if p.suffix in (".npy", ".npz", ".csv")
    }


def arrays(path: Path) -> dict[str, np.ndarray]:
    """A file's arrays; a model file's metadata without ``fit`` (the training's
    measured CPU-seconds differ from run to run: a measurement, not a result)."""
    if path.suffix == ".npy":
        return {"": np.load(path)}
    with np.load(path) as saved:
        out = {key: saved[key] for key in saved.files}
    if "meta" in out:
        meta = json.loads(out["meta"][()])
        meta.pop("fit", None)
        out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def differences(before: Path, after: Path, rename: dict[str, str] | None = None) -> list[str]:
    """What differs between two runs' results (empty: identical)."""
    rename = rename or {}
    old, new = outputs(before), outputs(after)
    out = []
    for name, path in old.items():
        target = rename.get(name, name)
        if target not in new:
            out.append(f"{name}: missing after")
            continue
        other = new[target]
        if path.suffix == ".csv":
            a, b = pd.read_csv(path), pd.read_csv(other)
            if set(a.columns) - set(b.columns):
                out.append(f"{name}: columns lost {sorted(set(a.columns) - set(b.columns))}")
            elif not a.equals(b[a.columns]):
                out.append(f"{name}: values differ")
            continue
        x, y = arrays(path), arrays(other)
        if x.keys() != y.keys():
            out.append(f"{name}: entries {sorted(x.keys() ^ y.keys())} differ")
        out += [
            f"{name}:{key}: values differ" for key in x if key in y and not np.array_equal(x[key], y[key])
        ]
    out += [f"{name}: new after" for name in new if name not in {rename.get(n, n) for n in old}]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args()
    for root in (args.before, args.after):
        if not outputs(root):
            sys.exit(
                f"{root}: no arrays or tables under {root / 'results'} (give the run's folder, not results/)"
            )
    found = differences(args.before, args.after, dict(r.split("=", 1) for r in args.rename))
    print("\n".join(found) if found else "identical: every array and table")
    sys.exit(1 if any(not line.endswith("new after") for line in found) else 0)


if __name__ == "__main__":
    main()
