"""Draw an experiment's figure from its saved samples."""

import numpy as np
import pandas as pd

from stepdiff import plots
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
loss = pd.read_csv(sm.input.loss) if "loss" in sm.input.keys() else None
plots.experiment_figure(
    sm.params.exp,
    sm.wildcards.experiment,
    np.load(sm.input.train),
    {f: np.load(f) for f in sm.input.samples},
    {f: np.load(f) for f in sm.input.trajectories},
    loss,
    sm.output[0],
)
log.info("wrote %s", sm.output[0])
