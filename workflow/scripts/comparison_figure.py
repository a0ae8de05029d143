"""One metric against NFE for several experiments, from their metrics tables."""

import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
spec = sm.params.spec
tables = {name: pd.read_csv(f) for name, f in zip(spec["experiments"], sm.input)}
title = spec.get("title", f"{spec['metric']} against NFE")
plots.comparison_figure(tables, spec["metric"], title, sm.output[0])
log.info("wrote %s", sm.output[0])
