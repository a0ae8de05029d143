"""The network's error against the exact denoiser: by noise level, and as maps."""

import numpy as np

from stepdiff.errors import ERROR_COLUMNS
from stepdiff.io import log_to, save_arrays, save_rows
from stepdiff.jobs import error
from stepdiff.jobs.networks import denoiser_for

sm = snakemake
log = log_to(sm.log[0])
params = sm.params.exp
net = denoiser_for(params, sm.input.model)
rows, maps = error.run(params, sm.wildcards.experiment, np.load(sm.input.test), net)
save_rows(sm.output.table, rows, ERROR_COLUMNS)
save_arrays(sm.output.maps, maps)
log.info("%d levels", len(rows))
