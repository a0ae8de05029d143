"""Draw where the network is wrong, from the error table and maps."""

import numpy as np
import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
with np.load(sm.input.maps) as saved:
    maps = {key: saved[key] for key in saved.files}
plots.error_figure(pd.read_csv(sm.input.table), maps, sm.wildcards.experiment, sm.output[0])
log.info("wrote %s", sm.output[0])
