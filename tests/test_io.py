"""Outputs appear whole or not at all."""

import numpy as np
import pytest

from stepdiff.io import atomic, save_npy


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.npy"
    with pytest.raises(RuntimeError), atomic(target, ".npy") as tmp:
        np.save(tmp, np.zeros(3))
        raise RuntimeError("job died mid-write")
    assert list(tmp_path.iterdir()) == []


def test_save_npy_round_trip_is_float64(tmp_path):
    target = tmp_path / "x.npy"
    save_npy(target, np.arange(4, dtype=np.float32).reshape(2, 2))
    loaded = np.load(target)
    assert loaded.dtype == np.float64 and loaded.tolist() == [[0, 1], [2, 3]]
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]
