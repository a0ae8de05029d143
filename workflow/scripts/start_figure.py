"""Energy against sigma for a start study, with its learned experiments' runs."""

import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
tables = [pd.read_csv(f) for f in sm.input.learned]
study = pd.read_csv(sm.input.study)
plots.start_figure(study, tables, sm.params.sigmas, sm.params.spec, sm.wildcards.study, sm.output[0])
log.info("wrote %s", sm.output[0])
