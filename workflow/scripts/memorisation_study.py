"""Sample a memorisation study: the ideal and the trained denoiser of each training set."""

import numpy as np

from stepdiff import network
from stepdiff.io import log_to, save_arrays, save_rows
from stepdiff.memorisation import COLUMNS, study_rows

sm = snakemake
log = log_to(sm.log[0])
spec = sm.params.spec
networks = {size: network.load(f"{sm.input.models}/n{size}/denoiser.npz") for size in spec["sizes"]}
train, test = np.load(sm.input.train), np.load(sm.input.test)
rows, samples = study_rows(spec, sm.wildcards.study, train, test, networks)
save_arrays(sm.output.samples, samples)
save_rows(sm.output.metrics, rows, COLUMNS)
log.info("%d runs", len(samples))
