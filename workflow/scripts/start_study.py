"""Run a start study: the exact denoiser from N(0, sigma^2) and from p_1, per sigma."""

from stepdiff.io import log_to, save_rows
from stepdiff.metrics import START_COLUMNS, start_rows

sm = snakemake
log = log_to(sm.log[0])
rows = start_rows(sm.params.spec, sm.wildcards.study)
save_rows(sm.output[0], rows, START_COLUMNS)
log.info("%s", rows)
