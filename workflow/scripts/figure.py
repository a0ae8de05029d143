"""Draw an experiment's figure and animation from its saved runs and table."""

import os

import numpy as np
import pandas as pd

from stepdiff.io import load_run, log_to
from stepdiff.jobs import figure

sm = snakemake
log = log_to(sm.log[0])
loss = pd.read_csv(sm.input.loss) if "loss" in sm.input.keys() else None
# each shown label's final run (a sweep file is named by its label), keyed "{label}-{steps}"
shown = {os.path.basename(f)[: -len(".npz")]: f for f in sm.input.runs}
runs = {f"{label}-{steps}": load_run(shown[label], steps) for label, steps in sm.params.shown.items()}
samples = {key: x for key, (x, _) in runs.items()}
trajectories = {key: record for key, (_, record) in runs.items()}  # io.Trajectories
table, train = pd.read_csv(sm.input.table), np.load(sm.input.train)
out = sm.output
frames = figure.run(
    sm.params.exp,
    sm.wildcards.experiment,
    train,
    samples,
    trajectories,
    loss,
    table,
    out.figure,
    out.animation,
)
log.info("wrote %s and %s (%d frames)", out.figure, out.animation, frames)
