"""Each metric between two true-law draws, at each evaluated sample size."""

import numpy as np

from stepdiff.io import log_to, save_rows
from stepdiff.jobs import noise_floor

sm = snakemake
log = log_to(sm.log[0])
rows = noise_floor.run(sm.params.exp, sm.wildcards.experiment, np.load(sm.input.test))
save_rows(sm.output[0], rows, noise_floor.COLUMNS)
log.info("%s", rows)
