"""A damaged or foreign model file: the error names the file and the command that rebuilds it,
whether torch (``learn.load``) or numpy (``network.load``) reads it; and a sound one computes
in numpy what the torch model does, at every time a config queries."""

import copy
import io
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stepdiff import learn, network  # noqa: E402
from stepdiff.process import Diffusion, flow  # noqa: E402

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


U32 = 2.0**-24  # float32's unit roundoff
PROCESSES = {
    "diffusion, sigma 80": Diffusion(80.0),  # exp7, queried down to model.t_min = 4e-10
    "diffusion, sigma 1": Diffusion(1.0),  # memorisation studies, down to t_min = 1e-10
    "gaussian flow": flow({"kind": "gaussian", "std": 1.0}),  # up to t = 1, where alpha_t = 0
    "annulus flow": flow({"kind": "annulus", "inner": 2.5, "outer": 3.0}),
}
# Every time a config queries: log-spaced from below the smallest model.t_min to t = 1,
# and the flows' largest trained time, where the noise embedding is held.
TIMES = [*np.logspace(-10, 0, 41), PROCESSES["gaussian flow"].t_max()]


@pytest.mark.parametrize("name", list(PROCESSES))
@pytest.mark.parametrize(("octaves", "target"), [(0, "x0"), (6, "x0"), (6, "eps"), (6, "v"), (6, "x0_raw")])
def test_the_numpy_network_computes_what_the_torch_model_does_at_every_queried_time(
    name, octaves, target, tmp_path
):
    """``network.load`` (numpy, float32) against the torch model it was saved
    from, at every queried time. The tolerance comes from float32 itself: a
    float64 pass of the same weights at the same float32 times is the exact
    value; torch's float32 pass misses it by its own rounding (measured: up
    to 20 u of the output's largest element, u = 2^-24); numpy's float32
    pass may miss it by 8 times torch's miss, plus u of the output's largest
    element (float32's resolution). Measured: at most 2.3 times torch's
    miss. A relative tolerance on the output alone is blind where it counts:
    at t = 1e-10 the network's part c_out F is 1e-5 of the output under
    sigma = 1 and 1e-10 under a flow. Planted in numpy, a time clipped at
    1e-4, times rounded through float16, or the skip connection alone below
    t = 1e-6 miss by 90 to 2e7 times torch's miss."""
    torch.manual_seed(0)
    process = PROCESSES[name]
    if target == "eps" and process.kind == "flow":
        pytest.skip("eps-prediction divides by alpha_t = 0 at a flow's t = 1 (refused by the config check)")
    model = learn.Denoiser(
        2, hidden=32, layers=3, n_freqs=4, process=process, sigma_data=0.6, octaves=octaves, target=target
    )
    for p in model.parameters():  # so that F, not the skip connection, dominates the output
        p.data.mul_(3)
    learn.save(model, tmp_path / "denoiser.npz", {})
    arch = {"hidden": 32, "layers": 3, "n_freqs": 4, "octaves": octaves, "target": target}
    denoiser = network.load(tmp_path / "denoiser.npz", arch)
    exact = copy.deepcopy(model).double()
    exact.octaves = exact.octaves.double()
    x = 3 * np.random.default_rng(0).standard_normal((500, 2))
    x32 = torch.tensor(x, dtype=torch.float32)
    for t in TIMES:
        t32 = torch.full((len(x), 1), float(t), dtype=torch.float32)  # the time as both passes see it
        with torch.no_grad():
            want = exact(x32.double(), t32.double()).numpy()
            torch_miss = np.abs(model(x32, t32).double().numpy() - want).max()
        got = denoiser(x, t)
        assert got.dtype == np.float64 and got.shape == x.shape
        assert np.isfinite(want).all(), t
        numpy_miss = np.abs(got - want).max()
        assert numpy_miss <= 8 * torch_miss + U32 * np.abs(want).max(), (t, numpy_miss, torch_miss)


def test_a_model_file_from_before_input_octaves_and_targets_reads_as_before(tmp_path):
    """Model files written before the ``octaves`` and ``target`` keys existed
    have no octaves and predict x0: they load so, and compute what they
    computed."""
    torch.manual_seed(0)
    model = learn.Denoiser(2, hidden=8, layers=1, n_freqs=2)
    learn.save(model, tmp_path / "new.npz", {})
    with np.load(tmp_path / "new.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("meta")[()])
    del meta["arch"]["octaves"], meta["arch"]["target"]
    np.savez(tmp_path / "old.npz", meta=np.array(json.dumps(meta)), **arrays)
    old, new = network.load(tmp_path / "old.npz"), network.load(tmp_path / "new.npz")
    x = np.random.default_rng(0).standard_normal((5, 2))
    np.testing.assert_array_equal(old(x, 0.3), new(x, 0.3))
    assert network.widths({"dim": 2, "hidden": 8, "layers": 1, "n_freqs": 2, "octaves": 3})[0] == 2 * 7 + 5
