"""Run a start study: the exact denoiser from N(0, sigma^2) and from p_1, per sigma."""

from stepdiff import network
from stepdiff.io import log_to, save_rows
from stepdiff.registry import start_key
from stepdiff.scores import START_COLUMNS, start_rows

sm = snakemake
log = log_to(sm.log[0])
spec = sm.params.spec
models = sm.input.get("models")
networks = (
    {s: network.load(f"{models}/{start_key(s)}/denoiser.npz") for s in spec["sigmas"]} if models else {}
)
rows = start_rows(spec, sm.wildcards.study, networks)
save_rows(sm.output[0], rows, START_COLUMNS)
log.info("%s", rows)
