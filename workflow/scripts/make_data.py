"""Write the training set and the held-out test set."""

from stepdiff.datasets import make_data
from stepdiff.io import log_to, save_npy

log = log_to(snakemake.log[0])
name = snakemake.wildcards[0]  # the experiment, or the memorisation study
arrays = make_data(snakemake.params.exp, name)
for split, array in arrays.items():
    save_npy(snakemake.output[split], array)
    log.info("%s: shape %s", split, array.shape)
