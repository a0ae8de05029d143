"""The network's error against the exact denoiser, over noise levels and over the plane."""

import numpy as np

from stepdiff import network
from stepdiff.data import from_config
from stepdiff.errors import ERROR_COLUMNS, error_curve, error_maps
from stepdiff.io import log_to, save_arrays, save_rows
from stepdiff.process import exact_denoiser
from stepdiff.process import from_config as process_of
from stepdiff.seeds import rng_for

sm = snakemake
log = log_to(sm.log[0])
exp, name = sm.params.exp, sm.wildcards.experiment
proc = process_of(exp)
net = network.denoiser_for(exp, sm.input.model)
exact = exact_denoiser(proc, from_config(exp["data"]))
x0 = np.load(sm.input.test)[:2000]
rows = error_curve(net, exact, proc, x0, rng_for(exp["seed"], name, "error"), exp["t_min"])
save_rows(sm.output.table, rows, ERROR_COLUMNS)
save_arrays(sm.output.maps, error_maps(net, exact, proc, x0, exp["t_min"]))
log.info("%d levels", len(rows))
