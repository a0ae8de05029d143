"""Metric against steps, from an experiment's metrics table."""

import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
plots.steps_figure(pd.read_csv(sm.input[0]), sm.wildcards.experiment, sm.output[0], sm.params.exp["data"])
log.info("wrote %s", sm.output[0])
