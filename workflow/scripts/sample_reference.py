"""Sample a learned experiment with the exact denoiser of its data, from the
learned runs' starts, at each of a label's reference step counts, and score
each (paired with the learned samples)."""

import numpy as np

from stepdiff.io import load_run, log_to, save_arrays, save_rows
from stepdiff.jobs import sample

sm = snakemake
log = log_to(sm.log[0])
w, steps = sm.wildcards, sm.params.steps
learned = {n: load_run(sm.input.paired, n)[0] for n in steps}
runs, rows = sample.reference(sm.params.exp, w.experiment, w.sampler, steps, np.load(sm.input.test), learned)
save_arrays(sm.output.samples, {f"samples-{n}": x for n, x in runs.items()})
save_rows(sm.output.metrics, rows, sample.COLUMNS)
log.info("reference %s at %s steps: %d samples each", w.sampler, steps, sm.params.exp["n_reference"])
