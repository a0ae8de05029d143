"""Animate an experiment's sampler trajectories (the runs of its figure) as a GIF."""

import numpy as np

from stepdiff.animate import trajectories_gif
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
exp = sm.params.exp
points = exp["data"]["points"] if exp["data"]["kind"] == "point_masses" else None
frames = trajectories_gif(
    {f: np.load(f) for f in sm.input},
    sm.wildcards.experiment,
    exp["t_min"],
    sm.output[0],
    points=points,
)
log.info("wrote %s: %d frames", sm.output[0], frames)
