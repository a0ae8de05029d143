"""Sample a learned experiment with the exact denoiser of its data."""

from stepdiff.config import reference_size
from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy

sm = snakemake
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
x, _ = sample_run(exp, w.experiment, w.sampler, int(w.steps), n=reference_size(exp), tag="reference")
save_npy(sm.output[0], x)
log.info("reference %s-%s: %d samples", w.sampler, w.steps, len(x))
