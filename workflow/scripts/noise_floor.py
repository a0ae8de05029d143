"""Each metric between two independent draws of the true law."""

import numpy as np

from stepdiff.io import log_to, save_csv
from stepdiff.tables import noise_floor

sm = snakemake
log = log_to(sm.log[0])
table = noise_floor(sm.params.exp, np.load(sm.input.test), np.load(sm.input.floor))
save_csv(sm.output[0], table)
log.info("\n%s", table.to_string())
