"""Run one sampler configuration; learned experiments load the trained model."""

from stepdiff.experiment import sample_run
from stepdiff.io import log_to, save_npy

sm = snakemake
log = log_to(sm.log[0])
denoiser = None
if "model" in sm.input.keys():  # torch only where a model is used
    import torch

    from stepdiff import learn

    torch.set_num_threads(sm.threads)
    cfg = sm.params.exp["model"]
    arch = {k: cfg[k] for k in ("hidden", "layers", "n_freqs")}
    model = learn.load(sm.input.model, arch, device=cfg["device"])
    denoiser = learn.NumpyDenoiser(model)
w = sm.wildcards
x, path = sample_run(sm.params.exp, w.experiment, w.sampler, int(w.steps), denoiser)
save_npy(sm.output.trajectories, path)
save_npy(sm.output.samples, x)
log.info("%s-%s: %d samples, %d trajectories", w.sampler, w.steps, len(x), path.shape[1])
