"""Draw a study's figure (its module's ``figure``) from its table and arrays."""

import numpy as np
import pandas as pd

from stepdiff import studies
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
with np.load(sm.input.arrays) as saved:
    arrays = {key: saved[key] for key in saved.files}
tables = {e: pd.read_csv(path) for e, path in zip(sm.params.experiments, sm.input.experiments)}
data_sets = {split: np.load(sm.input[split]) for split in ("train", "test") if split in sm.input.keys()}
study = studies.module(sm.params.section)
study.figure(
    pd.read_csv(sm.input.table), arrays, data_sets, tables, sm.params.spec, sm.wildcards.study, sm.output[0]
)
log.info("wrote %s", sm.output[0])
