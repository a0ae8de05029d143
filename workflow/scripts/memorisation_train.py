"""Train one network per training-set size of a memorisation study: the first N points."""

import os

import numpy as np
import torch

from stepdiff import learn
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.threads)
train, out = np.load(sm.input[0]), sm.output[0]
for size in sm.params.sizes:
    # one torch seed for every size (the study's name): only the training set changes
    model, losses = learn.fit(sm.params.exp, sm.wildcards.study, train[:size], log=log.info)
    os.makedirs(f"{out}/n{size}", exist_ok=True)
    learn.save(model, f"{out}/n{size}/denoiser.npz", sm.params.exp)
    log.info("N = %d: final loss %.4f", size, losses[-50:].mean())
