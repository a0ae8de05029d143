"""Sample a learned experiment with the exact denoiser of its data, from the same starts."""

from stepdiff.experiment import reference_run
from stepdiff.io import log_to, save_npy

sm = snakemake
log = log_to(sm.log[0])
w = sm.wildcards
x = reference_run(sm.params.exp, w.experiment, w.sampler, int(w.steps))
save_npy(sm.output[0], x)
log.info("reference %s-%s: %d samples", w.sampler, w.steps, len(x))
