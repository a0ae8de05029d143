"""Studies: questions that span several runs, each a config section and one
module of one shape.

A study module says

* ``KEYS``: for each of its jobs (``data``, ``train``, ``run``, ``figure``),
  the config keys the job reads, and ``DERIVED``: values computed from the
  section (and the whole config) that a job reads as if they were keys; a
  job's params hold exactly these (``config.study_params``), so editing one
  setting reruns only the jobs that read it;
* ``DATA``: the data sets its data job draws (``datasets.make_data`` with the
  ``data`` keys: ``("train", "test")``), or none;
* ``check(spec, key, config)``: what the schema cannot check, each error
  naming its key;
* what it trains: ``networks(params, name, inputs)``, a list of ``(key,
  network.Training)`` for ``learn.fit_each`` (only when the section has a
  ``model``); the run job reads each back with ``network.load``;
* what it runs and tabulates: ``run(params, name, inputs, networks)``, its
  table rows (``COLUMNS``) and named arrays;
* ``figure_experiments(spec)``: the experiments whose metrics tables its
  figure reads beside its own table; the figure is ``plots.<kind>_figure``;
  with ``ANIMATED = True``, ``animate.<kind>_gif`` draws an animation from
  its arrays.

``SECTIONS`` maps a config section to its module's name. The workflow finds
the module by name (``module``), so each job's code fingerprint reaches the
one study module it runs and not the others.
"""

from __future__ import annotations

import importlib

SECTIONS = {
    "starts": "start",
    "memorisation": "memorisation",
    "training": "training",
    "orders": "orders",
    "likelihood": "likelihood",
    "guidance": "guidance",
}


def module(section: str):
    """The study module of a config section."""
    return importlib.import_module(f"{__name__}.{SECTIONS[section]}")
