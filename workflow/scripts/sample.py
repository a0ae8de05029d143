"""Run one sampler configuration with the exact denoiser of the data."""

from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy

sm = snakemake
log = log_to(sm.log[0])
w = sm.wildcards
x, path = sample_run(sm.params.exp, w.experiment, w.sampler, int(w.steps))
save_npy(sm.output.trajectories, path)
save_npy(sm.output.samples, x)
log.info("%s-%s: %d samples, %d trajectories", w.sampler, w.steps, len(x), path.shape[1])
