"""Draw a study's animation (its module's ``animation``) from its arrays."""

import numpy as np

from stepdiff import studies
from stepdiff.io import log_to

sm = snakemake
log = log_to(sm.log[0])
with np.load(sm.input[0]) as saved:
    arrays = {key: saved[key] for key in saved.files}
frames = studies.module(sm.params.section).animation(arrays, sm.wildcards.study, sm.output[0])
log.info("wrote %s (%d frames)", sm.output[0], frames)
