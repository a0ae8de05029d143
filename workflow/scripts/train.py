"""Train the MLP denoiser and save it with its loss curve."""

import numpy as np
import pandas as pd
import torch

from stepdiff import learn
from stepdiff.io import log_to, save_csv
from stepdiff.jobs.networks import training

sm = snakemake
log = log_to(sm.log[0])
torch.set_num_threads(sm.params.threads)  # in the params: it changes the weights
task = training(sm.params.exp, sm.wildcards.experiment, np.load(sm.input[0]))
model, losses, cost = learn.fit(task, log=log.info)
save_csv(sm.output.loss, pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses}))
learn.save(model, sm.output.model, task.config, cost)
log.info("%.1f CPU-s, final loss %.4f", cost["cpu_s"], cost["final_loss"])
