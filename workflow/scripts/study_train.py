"""Train a study's networks (what its module says it trains), one after the other."""

import numpy as np
import torch

from stepdiff import network, studies
from stepdiff.io import log_to
from stepdiff.learn import fit_each

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.params.threads)  # in the params: it changes the weights
study = studies.module(sm.params.section)
# data sets as arrays; the shared networks it names (its teachers) as denoisers
inputs = {
    name: network.load(path) if name.startswith("network_") else np.load(path)
    for name, path in sm.input.items()
}
fit_each(study.networks(sm.params.spec, sm.wildcards.study, inputs), sm.output[0], log.info)
