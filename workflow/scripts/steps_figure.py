"""Plot every metric against the number of denoiser evaluations."""

import pandas as pd

from stepdiff.io import log_to
from stepdiff.jobs import steps_figure

sm = snakemake
log = log_to(sm.log[0])
steps_figure.run(sm.params.exp, sm.wildcards.experiment, pd.read_csv(sm.input[0]), sm.output[0])
log.info("wrote %s", sm.output[0])
