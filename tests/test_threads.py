"""Each pytest-xdist worker computes on its share of the cores (tests/conftest.py),
as each Snakemake job does on its `threads:`: two workers whose BLAS each used
every core spun against each other (test_curve took twice the CPU)."""

import pytest
import threadpoolctl
from conftest import worker_threads


def test_a_worker_computes_on_its_share_of_the_cores():
    share = worker_threads()
    if share is None:
        pytest.skip("plain pytest: one process, whose numpy keeps its default threads")
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert pools, "numpy's BLAS is loaded (conftest imports numpy)"
    assert all(p["num_threads"] == share for p in pools), pools
