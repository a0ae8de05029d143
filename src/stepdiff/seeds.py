"""Every random draw's generator, from the config's seed and the job's names.

A leaf module: the jobs that draw reach it and it reaches nothing, so its
code fingerprint (``provenance``) changes only when seeding does.
"""

from __future__ import annotations

import zlib

import numpy as np


def canonical_key(key) -> str:
    """The text of one seed key: numbers that are equal give the same text
    (``1``, ``1.0`` and ``np.float64(1)`` all give ``1``), so a config that
    writes ``sigmas: [1, 3]`` draws what ``[1.0, 3.0]`` draws."""
    if isinstance(key, bool) or not isinstance(key, int | float | np.integer | np.floating):
        return str(key)
    value = float(key)
    return str(int(value)) if value.is_integer() else repr(value)


def job_seed(seed: int, *keys) -> list[int]:
    """Entropy for ``numpy.random.default_rng``: the config seed plus stable
    hashes of the job's wildcards, so a job's draws do not depend on which
    other jobs ran (Python's ``hash`` is salted per process; crc32 is not)."""
    return [int(seed)] + [zlib.crc32(canonical_key(k).encode()) for k in keys]


def int_seed(seed: int, *keys) -> int:
    """A 32-bit seed for libraries that take one int (torch), from the same entropy as :func:`job_seed`."""
    return zlib.crc32(repr(job_seed(seed, *keys)).encode())


def rng_for(seed: int, *keys) -> np.random.Generator:
    """The generator of one job: config seed plus the job's wildcards."""
    return np.random.default_rng(job_seed(seed, *keys))
