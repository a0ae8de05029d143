"""Draw an experiment's figure and animate its trajectories, from saved arrays."""

import numpy as np
import pandas as pd

from stepdiff import plots
from stepdiff.animate import trajectories_gif
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
exp, name = sm.params.exp, sm.wildcards.experiment
loss = pd.read_csv(sm.input.loss) if "loss" in sm.input.keys() else None
trajectories = {f: np.load(f) for f in sm.input.trajectories}
samples = {f: np.load(f) for f in sm.input.samples}
plots.experiment_figure(exp, name, np.load(sm.input.train), samples, trajectories, loss, sm.output.figure)
points = exp["data"]["points"] if exp["data"]["kind"] == "point_masses" else None
frames = trajectories_gif(trajectories, name, exp["t_min"], sm.output.animation, points=points)
log.info("wrote %s and %s (%d frames)", sm.output.figure, sm.output.animation, frames)
