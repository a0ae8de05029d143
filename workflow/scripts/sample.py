"""Run one sampler's sweep of step counts with the exact denoiser of the data, and score it."""

import numpy as np

from stepdiff.experiment import sweep
from stepdiff.io import log_to, save_rows, save_runs
from stepdiff.scores import COLUMNS, sweep_rows

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
runs = sweep(exp, w.experiment, w.sampler, sm.params.steps)
save_runs(sm.output.runs, runs)
rows = sweep_rows(exp, w.experiment, runs, np.load(sm.input.test), w.sampler, "exact")
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("%s at %s steps with the exact denoiser", w.sampler, sm.params.steps)
