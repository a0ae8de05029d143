"""Sample a learned experiment with the exact denoiser of its data, from the
learned runs' starts, at each of a label's reference step counts, and score
each (paired with the learned samples)."""

import numpy as np

from stepdiff.experiment import reference_run
from stepdiff.io import load_run, log_to, save_arrays, save_rows
from stepdiff.scores import COLUMNS, run_rows

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
test = np.load(sm.input.test)
samples, rows = {}, []
for steps in sm.params.steps:
    x = reference_run(exp, w.experiment, w.sampler, steps)
    samples[f"samples-{steps}"] = x
    paired = load_run(sm.input.paired, steps)[0]
    rows += run_rows(exp, w.experiment, x, test, w.sampler, steps, "exact", paired)
    log.info("reference %s-%s: %d samples", w.sampler, steps, len(x))
save_arrays(sm.output.samples, samples)
save_rows(sm.output.metrics, rows, COLUMNS)
