"""Sample a learned experiment with the exact denoiser of its data."""

from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy

sm = snakemake  # noqa: F821
log = log_to(sm.log[0])
w, exp = sm.wildcards, sm.params.exp
x, _ = sample_run(exp, w.experiment, w.sampler, int(w.steps), n=exp["reference"]["n_samples"], tag="reference")
save_npy(sm.output[0], x)
log.info("reference %s-%s: %d samples", w.sampler, w.steps, len(x))
