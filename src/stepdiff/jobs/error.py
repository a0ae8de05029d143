"""The error job: a network's error against the exact denoiser, by noise
level (a curve) and over the plane (maps)."""

from __future__ import annotations

from ..data import from_config
from ..errors import error_curve, error_maps
from ..process import exact_denoiser
from ..process import from_config as process_of
from ..seeds import rng_for

KEYS = {"error": ("data", "model", "seed", "sigma", "source", "t_min")}


def run(params: dict, name: str, test, network) -> tuple[list[dict], dict]:
    """Rows of the error curve (``errors.ERROR_COLUMNS``) and the maps, on
    the first 2000 held-out points."""
    proc = process_of(params)
    exact = exact_denoiser(proc, from_config(params["data"]))
    x0 = test[:2000]
    rows = error_curve(network, exact, proc, x0, rng_for(params["seed"], name, "error"), params["t_min"])
    return rows, error_maps(network, exact, proc, x0, params["t_min"])
