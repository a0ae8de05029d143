"""Outputs appear whole or not at all."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stepdiff.io import Trajectories, atomic, load_run, save_npy, save_runs, save_text


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.npy"
    with pytest.raises(RuntimeError), atomic(target, ".npy") as tmp:
        np.save(tmp, np.zeros(3))
        raise RuntimeError("job died mid-write")
    assert list(tmp_path.iterdir()) == []


def test_save_text_round_trip_leaves_only_the_file(tmp_path):
    target = tmp_path / "caption.rst"
    save_text(target, "a caption\n{% raw %}± 0.1{% endraw %}\n")
    assert target.read_text() == "a caption\n{% raw %}± 0.1{% endraw %}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["caption.rst"]


def test_save_npy_round_trip_is_float64(tmp_path):
    target = tmp_path / "x.npy"
    save_npy(target, np.arange(4, dtype=np.float32).reshape(2, 2))
    loaded = np.load(target)
    assert loaded.dtype == np.float64 and loaded.tolist() == [[0, 1], [2, 3]]
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_sweep_file_round_trip(tmp_path):
    """save_runs/load_run: samples, the saved rows (integers again) and both
    path arrays of each step count; the names of the arrays in the file."""
    rng = np.random.default_rng(0)
    runs = {}
    for steps, rows in ((5, np.arange(6)), (1000, np.array([0, 96, 500, 999, 1000]))):
        cloud = rng.standard_normal((len(rows), 30, 2))
        runs[steps] = (rng.standard_normal((40, 2)), Trajectories(rows, cloud[:, :4], cloud))
    target = tmp_path / "ddim.npz"
    save_runs(target, runs)
    with np.load(target) as saved:
        assert sorted(saved.files) == sorted(
            f"{name}-{steps}" for steps in runs for name in ("samples", "rows", "trajectories", "cloud")
        )
    for steps, (x, record) in runs.items():
        loaded_x, loaded = load_run(target, steps)
        np.testing.assert_array_equal(loaded_x, x)
        assert loaded.rows.dtype.kind == "i" and loaded.rows.tolist() == record.rows.tolist()
        assert loaded.rows[0] == 0 and loaded.rows[-1] == steps  # t = 1 and t = 0
        np.testing.assert_array_equal(loaded.paths, record.paths)
        np.testing.assert_array_equal(loaded.cloud, record.cloud)
    assert [p.name for p in tmp_path.iterdir()] == ["ddim.npz"]


def test_old_sweep_layout_is_named(tmp_path):
    target = tmp_path / "old.npz"
    np.savez(target, **{"samples-5": np.zeros((3, 2)), "trajectories-5": np.zeros((6, 3, 2))})
    with pytest.raises(ValueError, match="rows-5.*rerun"):
        load_run(target, 5)


def test_a_figure_that_fails_to_save_leaves_no_file(tmp_path, monkeypatch):
    """Figures are written under a temporary name like every output: a
    savefig that dies half-way leaves nothing that looks complete."""
    import matplotlib.figure

    from stepdiff import plots

    def half_written(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\xff\xd8 a truncated jpeg")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    fig = plots.plt.figure()
    with pytest.raises(OSError, match="disk full"):
        plots.save(fig, str(tmp_path / "exp0.jpg"))
    assert list(tmp_path.iterdir()) == []


def test_a_jobs_log_ends_with_its_cpu_time_which_the_benchmark_reads(tmp_path):
    """``log_to``'s last line is the process's CPU time, imports and every
    thread included: at least what the job burned. benchmarks/run.py sums it
    per rule, and refuses a log without it (a job that did not finish) rather
    than count it as nothing."""
    log = tmp_path / "job.log"
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\n"
    code = f"from stepdiff.io import log_to\nlog_to({str(log)!r}).info('working')\n{burn}"
    subprocess.run([sys.executable, "-c", code], check=True)
    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks/run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert log.read_text().splitlines()[0].endswith("working")
    assert 0.3 <= bench.job_cpu(log) < 60
    log.write_text("2026-12-07 10:00:00,000 INFO step 1/10\n")
    with pytest.raises(ValueError, match="no 'job CPU-s:' line"):
        bench.job_cpu(log)
