"""Draw an experiment's figure and animate its trajectories, from saved arrays."""

import os

import numpy as np
import pandas as pd

from stepdiff import plots
from stepdiff.animate import trajectories_gif
from stepdiff.io import load_run, log_to

sm = snakemake
log = log_to(sm.log[0])
exp, name = sm.params.exp, sm.wildcards.experiment
loss = pd.read_csv(sm.input.loss) if "loss" in sm.input.keys() else None
# each shown label's final run (a sweep file is named by its label), keyed "{label}-{steps}"
shown = {os.path.basename(f)[: -len(".npz")]: f for f in sm.input.runs}
runs = {f"{label}-{steps}": load_run(shown[label], steps) for label, steps in sm.params.shown.items()}
samples = {key: x for key, (x, _) in runs.items()}
trajectories = {key: record for key, (_, record) in runs.items()}  # io.Trajectories
table = pd.read_csv(sm.input.table)
train = np.load(sm.input.train)
plots.experiment_figure(exp, name, train, samples, trajectories, loss, table, sm.output.figure)
# the figure draws each run's paths (n_trajectories), the animation its cloud (up to 2000 samples);
# point masses keep one view of the whole path (the figure's), other data zoom in on the samples
masses = exp["data"]["kind"] == "point_masses"
points = exp["data"]["points"] if masses else None
frames = trajectories_gif(
    trajectories, name, exp["t_min"], sm.output.animation, points=points, zoom=not masses
)
log.info("wrote %s and %s (%d frames)", sm.output.figure, sm.output.animation, frames)
