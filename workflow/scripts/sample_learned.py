"""Run one sampler configuration with the trained denoiser, and score it."""

import numpy as np

from stepdiff import network
from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy, save_rows
from stepdiff.metrics import COLUMNS, run_rows

sm = snakemake
log = log_to(sm.log[0])
w = sm.wildcards
denoiser = network.denoiser_for(sm.params.exp, sm.input.model)
x, path = sample_run(sm.params.exp, w.experiment, w.sampler, int(w.steps), denoiser)
save_npy(sm.output.trajectories, path)
save_npy(sm.output.samples, x)
test = np.load(sm.input.test)
rows = run_rows(sm.params.exp, w.experiment, x, test, w.sampler, int(w.steps), "learned")
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("%s-%s: %d samples with the learned denoiser", w.sampler, w.steps, len(x))
