"""The workflow layer: one module per kind of experiment job, the only code
besides ``config`` and the studies that reads a config section.

Every job has one shape. Its module declares ``KEYS``, for each job kind it
serves the keys of the experiment's section it reads (``config.job_params``
hands it exactly those, computed ones included, so editing a setting reruns
only the jobs that read it); its functions take those params, the
experiment's name and the job's inputs as arrays or objects, and return its
outputs; the workflow script around it only loads and saves. A study module
(``stepdiff.studies``) has the same shape for its own jobs. The mathematical
modules below this layer take laws, processes, denoisers and arrays, never a
config section; the two constructors ``data.from_config`` and
``process.from_config`` turn a ``data`` or process section into its object.

Each job module imports only what its jobs run, since a job's code
fingerprint (``provenance``) follows its imports: a data job does not reach
the samplers, so editing one regenerates no data set. This ``__init__`` has
no code (every job runs it), and ``KEYS`` is a literal: ``config.JOB_KEYS``
reads the declarations without importing the modules, so the Snakefile
builds the DAG without loading scipy or matplotlib.
"""
