"""Each metric between a fresh draw of the true law and the held-out set."""

import numpy as np

from stepdiff.io import log_to, save_rows
from stepdiff.metrics import FLOOR_COLUMNS, floor_rows

sm = snakemake
log = log_to(sm.log[0])
rows = floor_rows(sm.params.exp, sm.wildcards.experiment, np.load(sm.input.test))
save_rows(sm.output[0], rows, FLOOR_COLUMNS)
log.info("%s", rows)
