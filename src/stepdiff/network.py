"""The trained denoiser without torch: its file, its preconditioning, its forward pass.

``learn`` trains the network with torch; sampling needs only its forward
pass, which is a few matrix products, so the sampling jobs run it in numpy
and skip torch's import. The preconditioning (``scalings``, ``features``) is
written once, for numpy arrays and torch tensors alike (``xp`` is the
``numpy`` or the ``torch`` module), and both forward passes call it.

The model file is an ``.npz`` archive: the state_dict's arrays under their
names, and ``meta``, a JSON string with the architecture, the process, the
data's scale, the training config and what the training cost (``fit``:
CPU-seconds and final loss, measured, so not bit for bit across runs).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np

from .io import atomic
from .process import from_description

ARCH_KEYS = (
    "classes",
    "embed",
    "hidden",
    "layers",
    "n_freqs",
    "octaves",
    "target",
)  # model-config keys that fix the function of the weights
# architecture keys a config (or an older model file) may leave out; ``classes = 0``
# is the unconditional denoiser, ``classes = k`` a conditional one with ``k`` labels
# and a null label ``k`` (classifier-free guidance, docs/theory.md section 15)
OPTIONAL = {"classes": 0, "embed": 0, "octaves": 0, "target": "x0"}
TARGETS = ("x0", "eps", "v", "x0_raw")  # what F predicts (``scalings``)
ARCH = ("dim", *ARCH_KEYS)  # a saved architecture: the data's dimension too
META_KEYS = ("arch", "process", "sigma_data")


def widths(arch: dict) -> list[int]:
    """The MLP's layer widths: its input features (with the label's embedding,
    for a conditional network), the hidden layers, the output."""
    features = arch["dim"] * (1 + 2 * arch["octaves"]) + 1 + 2 * arch["n_freqs"]
    if arch.get("classes"):
        features += arch["embed"]
    return [features] + [arch["hidden"]] * arch["layers"] + [arch["dim"]]


def shapes(arch: dict) -> dict[str, tuple[int, ...]]:
    """The state_dict of ``learn.Denoiser``: array name -> shape. The MLP is
    ``net``, a torch ``Sequential`` of ``Linear`` layers with a ``ReLU``
    between each two (so the linear layers are ``net.0``, ``net.2``, ...); a
    conditional network has ``embed``, one row per label and the null label."""
    w = widths(arch)
    out = {"freqs": (arch["n_freqs"],)}
    if arch.get("classes"):
        out["embed.weight"] = (arch["classes"] + 1, arch["embed"])
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        out[f"net.{2 * i}.weight"], out[f"net.{2 * i}.bias"] = (b, a), (b,)
    return out


def scalings(process, sigma_data: float, t, xp, target: str = "x0", t_hold=None):
    """``(c_skip, c_out, c_in, c_noise)`` at times ``t`` (an (n, 1) array or
    tensor of the module ``xp``) for ``D(x, t) = c_skip x + c_out F(c_in x,
    c_noise)``, with ``x = alpha_t x0 + sigma_t eps`` (``process.path``).

    The ``target`` is what ``F`` learns (docs/theory.md section 17); the loss
    ``|(D - x0) / c_out|^2`` is then the plain squared error of ``F``:

    * ``x0``: Karras et al.'s preconditioning of ``y = x / alpha_t`` at noise
      level ``s = sigma_t / alpha_t``, written in ``x`` so that it stays
      finite at a flow's ``t = 1`` (``alpha_t = 0``), where ``D`` is ``c_out
      F``: the network's estimate of ``E[x0]``;
    * ``v``: the same with ``sigma_data = 1``: v-prediction, which assumes
      data of unit scale (Karras et al. 2022, Table 1);
    * ``eps``: ``D = (x - sigma_t F) / alpha_t``, the noise predicted (it
      divides by ``alpha_t``: a flow's ``t = 1`` is out of its reach);
    * ``x0_raw``: ``D = sigma_data F``, no skip: the network must draw the
      identity itself at small noise, where it is almost all of ``D``.

    The input is scaled to unit variance (``c_in``) for every target. The
    noise embedding is held at the largest trained level: the process's
    ``t_max``, or ``t_hold`` where the network serves another process than
    the one it was trained under (``Denoiser.serving``)."""
    alpha, sigma_t = process.path(t)
    sd = 1.0 if target == "v" else sigma_data
    denom = sigma_t**2 + alpha**2 * sigma_data**2
    c_in = 1 / xp.sqrt(denom)
    if target in ("x0", "v"):
        d = sigma_t**2 + alpha**2 * sd**2
        c_skip = sd**2 * alpha / d
        c_out = sigma_t * sd / xp.sqrt(d)
    elif target == "eps":
        c_skip = 1 / alpha + 0 * sigma_t  # the shape of t
        c_out = -sigma_t / alpha
    elif target == "x0_raw":
        c_skip = 0 * sigma_t
        c_out = sigma_data + 0 * sigma_t
    else:
        raise ValueError(f"model.target: unknown target {target!r}: expected one of {TARGETS}")
    held_alpha, held_sigma = process.path(xp.clip(t, None, process.t_max() if t_hold is None else t_hold))
    c_noise = xp.log(held_sigma / held_alpha) / 4
    return c_skip, c_out, c_in, c_noise


def octave_freqs(octaves: int) -> np.ndarray:
    """``pi 2^k`` for ``k < octaves``: the frequencies of the input's Fourier features."""
    return (np.pi * 2.0 ** np.arange(octaves)).astype(np.float32)


def features(x, c_in, c_noise, freqs, xp, octaves=None):
    """The network's input rows ``[c_in x, sin(c_in x o), cos(c_in x o), c_noise,
    sin(c_noise f), cos(c_noise f)]`` for the noise frequencies ``f`` and the
    input's octaves ``o`` (``octave_freqs``, none by default: the Fourier
    features of the position let a small network draw sharp arms); ``c_in``
    and ``c_noise`` may be one row for all of ``x``."""
    noise = xp.concatenate([c_noise, xp.sin(c_noise * freqs), xp.cos(c_noise * freqs)], axis=1)
    scaled = c_in * x
    parts = [scaled]
    if octaves is not None and len(octaves):
        angles = (scaled[:, :, None] * octaves).reshape(x.shape[0], -1)
        parts += [xp.sin(angles), xp.cos(angles)]
    return xp.concatenate([*parts, xp.broadcast_to(noise, (x.shape[0], noise.shape[1]))], axis=1)


@dataclass(frozen=True)
class Training:
    """One network to train: its data (and labels, for a conditional one), the
    process whose ``x_t`` it sees, ``learn.train``'s keyword arguments
    (``recipe``: the architecture, the steps, ``t_min``, ...), the torch seed,
    and the config saved beside the weights. Built by the workflow layer from
    the config; ``learn.fit`` takes nothing else."""

    x0: np.ndarray
    process: object
    recipe: dict
    seed: int
    labels: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    x1: np.ndarray | None = None  # source points, or x0's partners (``learn.train``'s coupling)


def damaged(path, problem: str, error: Exception | None = None) -> ValueError:
    """The error for a model file that cannot be used: it names the file and
    the command that rebuilds it and everything made from it."""
    if error is not None:
        text = " ".join(str(error).split()).split(". ")[0]  # its first sentence
        problem += f" ({type(error).__name__}: {text})" if text else f" ({type(error).__name__})"
    return ValueError(
        f"{path}: {problem}. Rebuild the model and everything made from it with: "
        f"snakemake --forcerun {path} (plus this run's other options, e.g. --configfile)"
    )


@dataclass(frozen=True)
class Saved:
    """A model file's contents: the state_dict's arrays and the metadata."""

    state: dict[str, np.ndarray]
    arch: dict
    process: object
    sigma_data: float
    config: dict
    fit: dict


def write(
    path, state: dict[str, np.ndarray], arch: dict, process, sigma_data: float, config: dict, fit=None
) -> None:
    """Write a model file atomically (``read`` is its inverse)."""
    meta = {
        "arch": arch,
        "process": process.describe(),
        "sigma_data": sigma_data,
        "config": config,
        "fit": fit or {},
    }
    with atomic(path, ".npz") as tmp:  # np.savez appends .npz to other names
        np.savez(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **state)


def _arrays(path) -> dict[str, np.ndarray] | None:
    """Every array of an ``.npz`` archive, read now (a damaged member fails
    here, not later); ``None`` for a file numpy reads that is no archive."""
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return None
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def _meta(entry) -> dict | None:
    """The metadata of a model file, ``None`` unless ``write`` wrote it."""
    if entry is None or entry.dtype.kind != "U" or entry.shape != ():
        return None
    try:
        meta = json.loads(entry[()])
    except json.JSONDecodeError:
        return None
    if not isinstance(meta, dict) or not all(k in meta for k in META_KEYS):
        return None
    if type(meta["sigma_data"]) not in (int, float):
        return None
    if not isinstance(meta["arch"], dict):
        return None
    arch = meta["arch"] = {**OPTIONAL, **meta["arch"]}  # files written before a key existed
    if set(arch) != set(ARCH) or arch["target"] not in TARGETS:
        return None
    if not all(type(v) is int for k, v in arch.items() if k != "target"):
        return None
    return meta


def _misfit(arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]]) -> str | None:
    """How the arrays differ from the expected state_dict (the first difference), or ``None``."""
    for name in sorted(expected.keys() | arrays.keys()):
        if name not in arrays:
            return f"no array {name}"
        if name not in expected:
            return f"an unexpected array {name}"
        a = arrays[name]
        if a.shape != expected[name] or a.dtype.kind != "f":
            return f"{name} is {a.dtype} {a.shape}, expected float {expected[name]}"
    return None


def read(path, arch: dict | None = None) -> Saved:
    """Read a model file; ``arch`` (if given) must match the saved architecture.

    A file that cannot be read (truncated, not written by ``write``), or whose
    weights do not fit its architecture, raises ``ValueError`` naming the file
    and the command that rebuilds it (``damaged``); a missing file raises
    ``FileNotFoundError``.
    """
    try:
        arrays = _arrays(path)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise damaged(path, "not a readable model file", e) from e
    meta = _meta(arrays.pop("meta", None)) if arrays is not None else None
    if meta is None:
        expected = f"the weights and a JSON entry meta with the keys {', '.join(META_KEYS)}"
        raise damaged(path, f"not a model file written by stepdiff (expected {expected})")
    saved_arch = meta["arch"]
    if arch is not None and any(saved_arch.get(k) != v for k, v in arch.items()):
        raise damaged(path, f"saved architecture {saved_arch} does not match requested {arch}")
    try:
        process = from_description(meta["process"])
    except (KeyError, ValueError, TypeError) as e:
        raise damaged(path, f"not a model file written by stepdiff (process {meta['process']})", e) from e
    misfit = _misfit(arrays, shapes(saved_arch))
    if misfit:
        raise damaged(path, f"weights do not fit the saved architecture {saved_arch} ({misfit})")
    fit = meta.get("fit", {})
    return Saved(arrays, saved_arch, process, float(meta["sigma_data"]), meta.get("config", {}), fit)


def mlp_layers(state: dict[str, np.ndarray], count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``count`` linear layers of ``learn.mlp``'s state as (weight.T,
    bias) in float32, ready for :func:`relu_mlp`."""
    return [
        (state[f"net.{2 * i}.weight"].T.astype(np.float32), state[f"net.{2 * i}.bias"].astype(np.float32))
        for i in range(count)
    ]


def relu_mlp(h, layers, outputs=None):
    """``learn.mlp``'s forward pass in numpy: each layer's product and bias,
    a ReLU between each two; into the arrays ``outputs`` (one per layer) when
    given, so that repeated calls of one batch size allocate nothing."""
    for i, (weight, bias) in enumerate(layers):
        h = np.matmul(h, weight, out=None if outputs is None else outputs[i])
        h += bias
        if i < len(layers) - 1:
            np.maximum(h, 0, out=h)  # ReLU
    return h


class Denoiser:
    """A saved network as the samplers' ``D(x, t)`` (``x``: (n, d); ``t``: a
    float), and ``D(x, t, label)`` for a conditional one (``self.null``, the
    default, is the unconditional denoiser): ``learn.Denoiser.forward`` in
    numpy, in float32 as torch computes it; returns float64 like every
    denoiser. :meth:`terms` adds the Jacobian's exact trace (the likelihood)."""

    def __init__(self, saved: Saved):
        arch = saved.arch
        self.process, self.sigma_data, self.target = saved.process, saved.sigma_data, arch["target"]
        self.fit = saved.fit  # what training cost: CPU-seconds, final loss
        self.freqs = saved.state["freqs"].astype(np.float32)
        self.octaves = octave_freqs(arch["octaves"])
        self.null = arch["classes"]  # the null label; 0 (and no embedding) for an unconditional network
        self.embed = saved.state["embed.weight"].astype(np.float32) if arch["classes"] else None
        self.layers = mlp_layers(saved.state, len(widths(arch)) - 1)
        alpha, sigma = self.process.path(self.process.t_max())
        self.level_max = float(sigma / alpha)  # the largest noise level it was trained on
        self.t_hold = None  # the process's own t_max (``serving``)
        self._outputs: list[np.ndarray] = []

    def serving(self, process) -> Denoiser:
        """This network as the denoiser of ``process`` on the same data: since
        ``E[x0 | x_t] = D(x_t / alpha_t, sigma_t / alpha_t)`` for every process
        (docs/theory.md section 18), and the preconditioning is written in
        those terms, only the process (which gives ``alpha_t``, ``sigma_t``)
        and the time where the trained levels end change. Itself for its own
        process."""
        if process.describe() == self.process.describe():
            return self
        out = copy.copy(self)
        out.process, out.t_hold, out._outputs = process, float(process.t_of_level(self.level_max)), []
        return out

    def _inputs(self, x, t, label):
        """The scalings and the MLP's input rows at one time ``t`` (``x``
        float32 or, for :meth:`terms`' complex step, complex)."""
        tt = np.full((1, 1), t, dtype=np.float32)
        c_skip, c_out, c_in, c_noise = scalings(
            self.process, self.sigma_data, tt, np, self.target, self.t_hold
        )
        h = features(x, c_in, c_noise, self.freqs, np, self.octaves)
        if self.embed is not None:
            row = self.embed[self.null if label is None else label]
            h = np.concatenate([h, np.broadcast_to(row, (len(x), row.size))], axis=1)
        return c_skip, c_out, h

    def __call__(self, x, t, label=None):
        x = np.asarray(x, dtype=np.float32)
        c_skip, c_out, h = self._inputs(x, t, label)
        h = relu_mlp(h, self.layers, self._buffers(len(x)))
        return (c_skip * x + c_out * h).astype(np.float64)

    def terms(self, x, t, label=None):
        """``D(x, t)`` and ``tr dD/dx``, exactly (off the ReLU kinks, a set of
        measure zero): the input rows' tangents by a complex step (they are
        analytic in ``x``: ``Im f(x + i h e_j) / h`` is the derivative to
        rounding; the label's embedding has none), then forward mode through
        the ReLU layers (each tangent masked where its unit is off), in one
        product per layer with the value. Float32, as :meth:`__call__`."""
        x32 = np.asarray(x, dtype=np.float32)
        n, d = x32.shape
        c_skip, c_out, value = self._inputs(x32, t, label)
        step = np.float32(1e-20)
        rows = [value] + [
            self._inputs(x32 + 1j * step * e, t, label)[2].imag / step for e in np.eye(d, dtype=np.float32)
        ]
        stack = np.stack(rows).astype(np.float32)  # (1 + d, n, inputs): the value, then d tangents
        for i, (weight, bias) in enumerate(self.layers):
            stack = stack @ weight
            stack[0] += bias
            if i < len(self.layers) - 1:
                stack *= stack[0] > 0  # ReLU, and its derivative on the tangents
        h, tangents = stack[0], stack[1:]
        out = c_skip * x32 + c_out * h
        trace = d * c_skip + c_out * np.einsum("jnj->n", tangents)
        return out.astype(np.float64), np.asarray(trace, dtype=np.float64).reshape(n)

    def denoiser(self, label: int | None = None):
        """``D(x, t)`` of one label (``None``: unconditional)."""
        return lambda x, t: self(x, t, label)

    def _buffers(self, n: int) -> list[np.ndarray]:
        """Each layer's output, kept from call to call: a sampler calls with
        one batch size throughout, and fresh arrays this large cost as much
        again in page faults as the products themselves."""
        if not self._outputs or len(self._outputs[0]) != n:
            self._outputs = [np.empty((n, bias.size), dtype=np.float32) for _, bias in self.layers]
        return self._outputs


def load(path, arch: dict | None = None) -> Denoiser:
    """A saved denoiser, checked against ``arch`` (see ``read``)."""
    return Denoiser(read(path, arch))
