"""Each metric between a fresh draw of the true law and the held-out set."""

import numpy as np

from stepdiff.io import log_to, save_csv
from stepdiff.tables import noise_floor

sm = snakemake
log = log_to(sm.log[0])
table = noise_floor(sm.params.exp, sm.wildcards.experiment, np.load(sm.input.test))
save_csv(sm.output[0], table)
log.info("\n%s", table.to_string())
