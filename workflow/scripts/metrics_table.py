"""Gather the run scores of one experiment into one long table."""

import pandas as pd

from stepdiff.io import log_to, save_csv
from stepdiff.tables import metrics_table

sm = snakemake
log = log_to(sm.log[0])
floor = pd.read_csv(sm.input.floor) if "floor" in sm.input.keys() else None  # point masses have none
table = metrics_table([pd.read_csv(f) for f in sm.input.runs], floor)
save_csv(sm.output[0], table)
log.info("%d rows", len(table))
