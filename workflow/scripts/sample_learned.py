"""Run one sampler configuration with the trained denoiser."""

import torch

from stepdiff import learn
from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.threads)
w = sm.wildcards
denoiser = learn.denoiser_for(sm.params.exp, sm.input.model)
x, path = sample_run(sm.params.exp, w.experiment, w.sampler, int(w.steps), denoiser)
save_npy(sm.output.trajectories, path)
save_npy(sm.output.samples, x)
log.info("%s-%s: %d samples with the learned denoiser", w.sampler, w.steps, len(x))
