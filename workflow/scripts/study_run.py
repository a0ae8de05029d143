"""Run a study (what its module says it runs) and write its table and arrays."""

import os

import numpy as np

from stepdiff import network, studies
from stepdiff.io import log_to, save_arrays, save_rows

sm = snakemake
log = log_to(sm.log[0])
study = studies.module(sm.params.section)
models = sm.input.get("models")
keys = sorted(entry.name for entry in os.scandir(models) if entry.is_dir()) if models else []
networks = {key: network.load(f"{models}/{key}/denoiser.npz") for key in keys}
# the shared networks it names, by their names (input network_{name})
shared = {name: path for name, path in sm.input.items() if name.startswith("network_")}
networks.update({name[len("network_") :]: network.load(path) for name, path in shared.items()})
inputs = {name: np.load(path) for name, path in sm.input.items() if name != "models" and name not in shared}
rows, arrays = study.run(sm.params.spec, sm.wildcards.study, inputs, networks)
save_arrays(sm.output.arrays, arrays)
save_rows(sm.output.table, rows, study.COLUMNS)
log.info("%d rows, %d arrays", len(rows), len(arrays))
