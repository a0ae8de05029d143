"""Run one sampler's sweep of step counts with the exact denoiser of the data, and score it."""

import numpy as np

from stepdiff.io import log_to, save_rows, save_runs
from stepdiff.jobs import sample

sm = snakemake
log = log_to(sm.log[0])
w = sm.wildcards
runs, rows = sample.sweep(sm.params.exp, w.experiment, w.sampler, sm.params.steps, np.load(sm.input.test))
save_runs(sm.output.runs, runs)
save_rows(sm.output.metrics, rows, sample.COLUMNS)
log.info("%s at %s steps with the exact denoiser", w.sampler, sm.params.steps)
