"""A damaged or foreign model file: the error names the file and the command that rebuilds it,
whether torch (``learn.load``) or numpy (``network.load``) reads it."""

import io
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stepdiff import learn, network  # noqa: E402

ARCH = dict(hidden=16, layers=2, n_freqs=2)
LOADERS = {"torch": learn.load, "numpy": network.load}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model as ``learn.save`` writes it, and the bytes of its file
    (untrained: what is checked here is the file, not the weights)."""
    torch.manual_seed(0)
    model = learn.Denoiser(2, **ARCH)
    path = tmp_path_factory.mktemp("model") / "denoiser.npz"
    learn.save(model, path, {"note": "test"})
    return model, path.read_bytes()


def _rebuild_hint(path):
    """The message names the file and the command that rebuilds it."""
    return re.escape(f"{path}: ") + ".*" + re.escape(f"snakemake --forcerun {path}")


def _entries(blob):
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return {name: f[name] for name in f.files}


def _npz(entries):
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    return buffer.getvalue()


def _with_meta(blob, **changes):
    """The saved file with some metadata replaced."""
    entries = _entries(blob)
    meta = {**json.loads(entries["meta"][()]), **changes}
    return _npz({**entries, "meta": np.array(json.dumps(meta))})


def _truncated(blob, model):
    return blob[: len(blob) // 2]


def _empty(blob, model):
    return b""


def _bare_state_dict(blob, model):
    return _npz({k: v.numpy() for k, v in model.state_dict().items()})  # weights without the metadata


def _one_array(blob, model):
    buffer = io.BytesIO()
    np.save(buffer, model.state_dict()["net.0.weight"].numpy())  # an .npy, not an archive
    return buffer.getvalue()


def _pickle(blob, model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)  # the old .pt format: a zip archive, but no .npy in it
    return buffer.getvalue()


def _weights_of_another_width(blob, model):
    """A file that says it holds ARCH but whose weights are 32 wide."""
    other = learn.Denoiser(2, **{**ARCH, "hidden": 32}).state_dict()
    return _npz({"meta": _entries(blob)["meta"], **{k: v.numpy() for k, v in other.items()}})


def _unknown_process(blob, model):
    return _with_meta(blob, process={"kind": "flow", "source": {"kind": "moon"}})


def _foreign_process(blob, model):
    return _with_meta(blob, process={"name": "ve"})


DAMAGE = {
    "truncated": (_truncated, "not a readable model file"),
    "empty": (_empty, "not a readable model file"),
    "bare state_dict": (_bare_state_dict, "not a model file written by stepdiff"),
    "one array": (_one_array, "not a model file written by stepdiff"),
    "torch checkpoint": (_pickle, "not a model file written by stepdiff"),
    "weights of another width": (_weights_of_another_width, "do not fit"),
    "unknown process": (_unknown_process, "not a model file written by stepdiff (process"),
    "foreign process": (_foreign_process, "not a model file written by stepdiff (process"),
}


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_model_file_names_itself_and_the_rebuild(saved, tmp_path, case, loader):
    model, blob = saved
    damage, problem = DAMAGE[case]
    path = tmp_path / "results/models/roll/denoiser.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(damage(blob, model))
    with pytest.raises(ValueError, match=_rebuild_hint(path)) as err:
        LOADERS[loader](path, ARCH)
    assert problem in str(err.value)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_model_of_another_architecture_names_itself_and_the_rebuild(saved, tmp_path, loader):
    _, blob = saved
    path = tmp_path / "denoiser.npz"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=_rebuild_hint(path)) as err:
        LOADERS[loader](path, {**ARCH, "hidden": 64})
    assert "architecture" in str(err.value) and "'hidden': 64" in str(err.value)
    LOADERS[loader](path, ARCH)  # the file itself is fine


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_missing_model_file_is_not_called_damaged(tmp_path, loader):
    with pytest.raises(FileNotFoundError):
        LOADERS[loader](tmp_path / "denoiser.npz", ARCH)


def test_the_model_file_holds_no_pickle(saved):
    """Plain arrays and a JSON string: numpy reads it with pickles refused."""
    model, blob = saved
    entries = _entries(blob)
    assert set(entries) == {"meta", *model.state_dict()}
    assert all(a.dtype == np.float32 for name, a in entries.items() if name != "meta")
    assert json.loads(entries["meta"][()])["arch"] == model.arch
