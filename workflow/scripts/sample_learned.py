"""Run one sampler's sweep of step counts with the trained denoiser, and score it."""

import numpy as np

from stepdiff import network
from stepdiff.experiment import sweep
from stepdiff.io import log_to, save_rows, save_runs
from stepdiff.scores import COLUMNS, sweep_rows

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
denoiser = network.denoiser_for(exp, sm.input.model)
runs = sweep(exp, w.experiment, w.sampler, sm.params.steps, denoiser)
save_runs(sm.output.runs, runs)
rows = sweep_rows(exp, w.experiment, runs, np.load(sm.input.test), w.sampler, "learned")
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("%s at %s steps with the learned denoiser", w.sampler, sm.params.steps)
