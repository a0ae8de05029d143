"""Run one sampler's sweep of step counts with the trained denoiser, and score it."""

import numpy as np

from stepdiff.io import log_to, save_rows, save_runs
from stepdiff.jobs import sample
from stepdiff.jobs.networks import denoiser_for

sm = snakemake
log = log_to(sm.log[0])
w, params = sm.wildcards, sm.params.exp
net = denoiser_for(params, sm.input.model)
runs, rows = sample.sweep(params, w.experiment, w.sampler, sm.params.steps, np.load(sm.input.test), net)
save_runs(sm.output.runs, runs)
save_rows(sm.output.metrics, rows, sample.COLUMNS)
log.info("%s at %s steps with the learned denoiser", w.sampler, sm.params.steps)
