"""Score one sampler run."""

import numpy as np

from stepdiff.io import log_to, save_csv
from stepdiff.tables import evaluate_run

sm = snakemake
log = log_to(sm.log[0])
w = sm.wildcards
table = evaluate_run(
    sm.params.exp,
    w.experiment,
    np.load(sm.input.samples),
    np.load(sm.input.test),
    w.sampler,
    int(w.steps),
    sm.params.denoiser,
    np.load(sm.input.paired) if "paired" in sm.input.keys() else None,
)
save_csv(sm.output[0], table)
log.info("\n%s", table.to_string())
