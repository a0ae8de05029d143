"""Train one network per training-set size of a memorisation study: the first N points."""

import numpy as np
import torch

from stepdiff.io import log_to
from stepdiff.learn import fit_each

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.params.threads)  # in the params: it changes the weights
train = np.load(sm.input[0])
runs = [(f"n{size}", sm.params.exp, train[:size]) for size in sm.params.sizes]
fit_each(runs, sm.wildcards.study, sm.output[0], log=log.info)
