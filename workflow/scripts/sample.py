"""Run one sampler configuration with the exact denoiser of the data, and score it."""

import numpy as np

from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy, save_rows
from stepdiff.metrics import COLUMNS, run_rows

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
x, path = sample_run(exp, w.experiment, w.sampler, int(w.steps))
save_npy(sm.output.trajectories, path)
save_npy(sm.output.samples, x)
test = np.load(sm.input.test)
rows = run_rows(exp, w.experiment, x, test, w.sampler, int(w.steps), "exact")
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("%s-%s: %d samples, %d trajectories", w.sampler, w.steps, len(x), path.shape[1])
