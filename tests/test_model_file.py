"""A damaged or foreign model file: the error names the file and the command that rebuilds it."""

import io
import re

import pytest

torch = pytest.importorskip("torch")

from stepdiff import learn  # noqa: E402

ARCH = dict(hidden=16, layers=2, n_freqs=2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model as ``learn.save`` writes it, and the bytes of its file
    (untrained: what is checked here is the file, not the weights)."""
    torch.manual_seed(0)
    model = learn.Denoiser(2, **ARCH)
    path = tmp_path_factory.mktemp("model") / "denoiser.pt"
    learn.save(model, path, {"note": "test"})
    return model, path.read_bytes()


def _rebuild_hint(path):
    """The message names the file and the command that rebuilds it."""
    return re.escape(f"{path}: ") + ".*" + re.escape(f"snakemake --forcerun {path}")


def _truncated(blob, model):
    return blob[: len(blob) // 2]


def _empty(blob, model):
    return b""


def _saved(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _bare_state_dict(blob, model):
    return _saved(model.state_dict())  # weights without the architecture


def _weights_of_another_width(blob, model):
    """A file that says it holds ARCH but whose weights are 32 wide."""
    ckpt = torch.load(io.BytesIO(blob), weights_only=True)
    ckpt["state_dict"] = learn.Denoiser(2, **{**ARCH, "hidden": 32}).state_dict()
    return _saved(ckpt)


DAMAGE = {
    "truncated": (_truncated, "not a readable model file"),
    "empty": (_empty, "not a readable model file"),
    "bare state_dict": (_bare_state_dict, "not a model file written by stepdiff"),
    "weights of another width": (_weights_of_another_width, "do not fit"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_model_file_names_itself_and_the_rebuild(saved, tmp_path, case):
    model, blob = saved
    damage, problem = DAMAGE[case]
    path = tmp_path / "results/models/roll/denoiser.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(damage(blob, model))
    with pytest.raises(ValueError, match=_rebuild_hint(path)) as err:
        learn.load(path, ARCH)
    assert problem in str(err.value)


def test_a_model_of_another_architecture_names_itself_and_the_rebuild(saved, tmp_path):
    _, blob = saved
    path = tmp_path / "denoiser.pt"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=_rebuild_hint(path)) as err:
        learn.load(path, {**ARCH, "hidden": 64})
    assert "architecture" in str(err.value) and "'hidden': 64" in str(err.value)
    learn.load(path, ARCH)  # the file itself is fine


def test_a_missing_model_file_is_not_called_damaged(tmp_path):
    with pytest.raises(FileNotFoundError):
        learn.load(tmp_path / "denoiser.pt", ARCH)
