"""Studies: questions that span several runs, each a config section and one
module of one shape.

A study module says

* ``KEYS``: for each of its jobs (``data``, ``train``, ``run``, ``figure``),
  the config keys the job reads, and ``DERIVED``: values computed from the
  section (and the whole config) that a job reads as if they were keys; a
  job's params hold exactly these (``config.study_params``), so editing one
  setting reruns only the jobs that read it;
* ``DATA``: the data sets its data job draws (``jobs.make_data`` with the
  ``data`` keys: ``("train", "test")``), or none;
* ``check(spec, key, config)``: what the schema cannot check, each error
  naming its key;
* what it trains: ``networks(params, name, inputs)``, a list of ``(key,
  network.Training)`` for ``learn.fit_each`` (only when the section has a
  ``model``); the run job reads each back with ``network.load``; optionally
  ``shared_networks(spec)`` and ``teachers(spec)``: the ``networks`` entries
  its run and its training read (``inputs["network_<name>"]``, a denoiser);
* what it runs and tabulates: ``run(params, name, inputs, networks)``, its
  table rows (``COLUMNS``) and named arrays;
* its figure: ``figure(table, arrays, data_sets, tables, spec, name,
  path)`` (matplotlib imported inside it, through ``plots``), from its table,
  its arrays and the metrics tables of ``figure_experiments(spec)``; its
  report caption ``CAPTION``; optionally ``animation(arrays, name, path)``,
  which adds an animation job.

Each module names its config section (``SECTION``); the package finds the
modules by reading that line (``SECTIONS``), without importing them, and
loads one by name (``module``), so each job's code fingerprint reaches the
one study module it runs and not the others. A new study is its module, its
config section and schema block, and its test file: nothing lists it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path


def _sections() -> dict[str, str]:
    """Config section -> study module name, from each module's ``SECTION = "..."`` line."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        match = re.search(r'^SECTION = "(\w+)"', path.read_text(), re.M)
        if match:
            found[match.group(1)] = path.stem
    return found


SECTIONS = _sections()


def module(section: str):
    """The study module of a config section."""
    return importlib.import_module(f"{__name__}.{SECTIONS[section]}")
