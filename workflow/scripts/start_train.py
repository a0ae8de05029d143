"""Train a start study's network at each of its sigmas, on one draw of its data."""

import torch

from stepdiff.data import from_config
from stepdiff.io import log_to
from stepdiff.learn import fit_each
from stepdiff.seeds import rng_for

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.params.threads)  # in the params: it changes the weights
spec, name = sm.params.spec, sm.wildcards.study
n = spec["data"].get("n", spec["n_samples"])  # swiss_roll and spiral data give n
x0 = from_config(spec["data"]).sample(n, rng_for(spec["seed"], name, "train"))
runs = [(key, exp, x0) for key, exp in sm.params.networks.items()]
fit_each(runs, name, sm.output[0], log=log.info)
