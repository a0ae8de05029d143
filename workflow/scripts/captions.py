"""Write the report's caption files: each caption template with its figures' tables."""

import pandas as pd

from stepdiff import captions, studies
from stepdiff.io import log_to, save_text

sm = snakemake
log = log_to(sm.log[0])
tables = {
    "figure": {
        e: captions.experiment_table(pd.read_csv(path))
        for e, path in zip(sm.params.experiments, sm.input.experiments)
    },
    "study": {
        s: captions.study_table(studies.module(section), pd.read_csv(path))
        for (s, section), path in zip(sm.params.studies, sm.input.studies)
    },
}
wildcard = {"figure": "experiment", "study": "study"}
for name, text in tables.items():
    save_text(sm.output[name], captions.caption(sm.params.templates[name], wildcard[name], text))
    log.info("wrote %s: %d tables", sm.output[name], sum(bool(t.strip()) for t in text.values()))
