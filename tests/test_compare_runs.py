"""The bit-for-bit comparison of two runs (benchmarks/compare_runs.py), on
small folders written here."""

import sys

import numpy as np
import pandas as pd
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from compare_runs import differences  # noqa: E402


def write_run(root, value=1.0, extra_column=False, name="metrics/memorisation/m.csv"):
    results = root / "results"
    (results / "runs").mkdir(parents=True)
    (results / "figures").mkdir()
    np.savez(results / "runs" / "r.npz", **{"samples-5": np.full((3, 2), value)})
    np.save(results / "runs" / "x.npy", np.arange(4.0))
    table = pd.DataFrame({"metric": ["energy"], "value": [value]})
    if extra_column:
        table["crossing"] = [16.0]
    (results / name).parent.mkdir(parents=True)
    table.to_csv(results / name, index=False)
    (results / "figures" / "f.jpg").write_bytes(b"not a result")
    return root


def test_identical_runs_and_an_added_column_or_a_moved_table_compare_equal(tmp_path):
    before = write_run(tmp_path / "a")
    after = write_run(tmp_path / "b", extra_column=True, name="metrics/studies/m.csv")
    assert differences(before, after, {"metrics/memorisation/m.csv": "metrics/studies/m.csv"}) == []


def test_a_changed_value_a_lost_column_or_a_missing_output_is_found(tmp_path):
    before = write_run(tmp_path / "a", extra_column=True)
    after = write_run(tmp_path / "b", value=1.0 + 1e-15)
    found = differences(before, after)
    assert "runs/r.npz:samples-5: values differ" in found
    assert any(line.startswith("metrics/memorisation/m.csv: columns lost") for line in found)
    (after / "results" / "runs" / "x.npy").unlink()
    assert "runs/x.npy: missing after" in differences(before, after)
