"""Memorised fraction and energy distance against the training-set size."""

import numpy as np
import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
with np.load(sm.input.samples) as runs:
    samples = {key: runs[key] for key in runs.files}
table = pd.read_csv(sm.input.metrics)
plots.memorisation_figure(table, samples, np.load(sm.input.train), sm.wildcards.study, sm.output[0])
log.info("wrote %s", sm.output[0])
