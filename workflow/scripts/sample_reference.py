"""Sample a learned experiment with the exact denoiser of its data, from the
learned run's starts, and score it (paired with the learned samples)."""

import numpy as np

from stepdiff.experiment import reference_run
from stepdiff.io import load_run, log_to, save_npy, save_rows
from stepdiff.scores import COLUMNS, run_rows

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
x = reference_run(exp, w.experiment, w.sampler, int(w.steps))
save_npy(sm.output.samples, x)
test, paired = np.load(sm.input.test), load_run(sm.input.paired, int(w.steps))[0]
rows = run_rows(exp, w.experiment, x, test, w.sampler, int(w.steps), "exact", paired)
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("reference %s-%s: %d samples", w.sampler, w.steps, len(x))
