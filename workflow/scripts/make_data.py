"""Write the training set and the held-out test set."""

from stepdiff.io import log_to, save_npy
from stepdiff.jobs import make_data

log = log_to(snakemake.log[0])
name = snakemake.wildcards[0]  # the experiment, or the study
for split, array in make_data.run(snakemake.params.exp, name).items():
    save_npy(snakemake.output[split], array)
    log.info("%s: shape %s", split, array.shape)
