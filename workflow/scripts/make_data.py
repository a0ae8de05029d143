"""Write the training set, held-out test set and noise-floor draw."""

from stepdiff.experiment import make_data
from stepdiff.io import log_to, save_npy

log = log_to(snakemake.log[0])
arrays = make_data(snakemake.params.exp, snakemake.wildcards.experiment)
for split, array in arrays.items():
    save_npy(snakemake.output[split], array)
    log.info("%s: shape %s", split, array.shape)
